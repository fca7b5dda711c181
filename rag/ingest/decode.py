"""Turning a file's bytes into text, refusing what is not text with a message that says why."""

from __future__ import annotations

from pathlib import Path


class UnreadableFile(Exception):
    """The file cannot be read as an article; the message says why and what to do."""


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{n / 1e3:.1f} kB"


def too_large(size: int, max_bytes: int) -> str:
    return f"too large ({_size(size)}, limit {_size(max_bytes)}); split it into smaller files"


def decode_bytes(data: bytes, max_bytes: int) -> str:
    """UTF-8 text from bytes (a BOM is accepted); empty, oversized, binary or non-UTF-8 input is refused."""
    if len(data) > max_bytes:
        raise UnreadableFile(too_large(len(data), max_bytes))
    if not data.strip():
        raise UnreadableFile("empty file; nothing indexed")
    if b"\x00" in data[:8192]:
        raise UnreadableFile("binary file, not text; save the article as .txt, .md, .html or .json")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UnreadableFile(
            f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); re-save it as UTF-8"
        ) from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def read_text(path: Path, max_bytes: int) -> str:
    """Read and decode a file (size checked before reading it all)."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise UnreadableFile(too_large(size, max_bytes))
        data = path.read_bytes()
    except OSError as exc:
        raise UnreadableFile(f"cannot be read ({exc.strerror or exc})") from None
    return decode_bytes(data, max_bytes)
