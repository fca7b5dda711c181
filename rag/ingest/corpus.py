"""Walk a corpus folder, dispatch each file to its reader, de-duplicate, collect problems."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from rag.ingest import html, records, text
from rag.ingest.base import Problem, ReadResult
from rag.ingest.decode import UnreadableFile, decode_bytes, read_text

Reader = Callable[[str, str], ReadResult]

#: extension → reader(text, source name).
READERS: dict[str, Reader] = {
    ".md": text.parse,
    ".markdown": text.parse,
    ".txt": text.parse,
    ".html": html.parse,
    ".htm": html.parse,
    ".json": records.parse_json,
    ".jsonl": records.parse_jsonl,
}
SUPPORTED_EXTENSIONS = tuple(READERS)

#: Files that describe the corpus rather than being articles.
IGNORED_NAMES = {"readme.md", "sources.json"}

#: Default per-file size limit (the MultiHop-RAG corpus, 609 articles in one file, is 6.6 MB).
DEFAULT_MAX_BYTES = 20 * 1024 * 1024


def iter_corpus_files(folder: Path) -> Iterator[Path]:
    """Article files under `folder`, sorted for a stable order; hidden files and folders are skipped."""
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if any(part.startswith(".") for part in rel.parts) or not path.is_file():
            continue
        if path.name.lower() in IGNORED_NAMES:
            continue
        yield path


def _reader_for(name: str, source: str) -> Reader | ReadResult:
    reader = READERS.get(Path(name).suffix.lower())
    if reader is None:
        allowed = ", ".join(SUPPORTED_EXTENSIONS)
        return ReadResult(problems=[Problem(source, f"unsupported file type (use one of {allowed}); skipped")])
    return reader


def parse_bytes(name: str, data: bytes, max_bytes: int = DEFAULT_MAX_BYTES) -> ReadResult:
    """Read articles from an in-memory file (an upload) without touching the disk."""
    reader = _reader_for(name, name)
    if isinstance(reader, ReadResult):
        return reader
    try:
        return reader(decode_bytes(data, max_bytes), name)
    except UnreadableFile as exc:
        return ReadResult(problems=[Problem(name, str(exc))])


def read_file(path: Path, source: str, max_bytes: int = DEFAULT_MAX_BYTES) -> ReadResult:
    """Read one file into articles; every failure becomes a `Problem` naming `source`."""
    reader = _reader_for(path.name, source)
    if isinstance(reader, ReadResult):
        return reader
    try:
        return reader(read_text(path, max_bytes), source)
    except UnreadableFile as exc:
        return ReadResult(problems=[Problem(source, str(exc))])


def read_corpus(folder: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> ReadResult:
    """Read every supported file under `folder`. Duplicates (same id or same body) are kept once."""
    if not folder.is_dir():
        raise FileNotFoundError(f"corpus folder '{folder}' does not exist (set --corpus or RAG_CORPUS_DIR)")
    result = ReadResult()
    first_seen: dict[str, str] = {}
    for path in iter_corpus_files(folder):
        one = read_file(path, path.relative_to(folder).as_posix(), max_bytes)
        result.problems.extend(one.problems)
        for art in one.articles:
            body_key = "body:" + " ".join(art.body.split()).lower()
            first = first_seen.get(art.id) or first_seen.get(body_key)
            if first is not None:
                result.problems.append(Problem(art.source, f"same article as {first}; indexed once"))
                continue
            first_seen[art.id] = first_seen[body_key] = art.source
            result.articles.append(art)
    return result
