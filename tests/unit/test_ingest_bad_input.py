"""Bad input: each bad file is reported by name and skipped, while every good article beside it is read."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from rag.ingest import Problem, ReadResult, parse_bytes, read_corpus

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
FORMATS, BAD = FIXTURES / "formats", FIXTURES / "bad"
MAX_BYTES = 20_000  # every fixture is smaller; the oversized file below is not

GOOD_ARTICLES = 8 + 2  # tests/fixtures/formats + the two good lines of bad/partly_broken.jsonl


def _article_text() -> str:
    return (FORMATS / "dawn_cartels.txt").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The good fixtures, the stored bad ones, and bad files made from real article text."""
    root = tmp_path_factory.mktemp("corpus")
    shutil.copytree(FORMATS, root, dirs_exist_ok=True)
    shutil.copytree(BAD, root / "bad")
    text = _article_text()
    # Binary: an image saved with a text extension.
    (root / "bad" / "photo.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4)
    # Non-UTF-8: the same article saved as Windows-1252 (its curly quotes are not UTF-8 bytes).
    (root / "bad" / "cp1252.txt").write_bytes(text.encode("cp1252"))
    # Unsupported types.
    (root / "bad" / "report.pdf").write_bytes(b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\n")
    (root / "bad" / "notes.docx").write_bytes(b"PK\x03\x04" + b"\x00" * 64)
    # Oversized: many copies of a real article in one file.
    (root / "bad" / "huge.txt").write_text(text * (MAX_BYTES // len(text) + 2), encoding="utf-8")
    # Whitespace only counts as empty.
    (root / "bad" / "blank.md").write_text("  \n\n\t\n", encoding="utf-8")
    # The same article under a second name (same URL), and a URL-less article copied (same body).
    shutil.copy(FORMATS / "beeper_mini.md", root / "zz_beeper_mini (copy).md")
    shutil.copy(FORMATS / "dawn_cartels.txt", root / "zz_dawn_again.txt")
    # Not articles at all: ignored silently.
    (root / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (root / "README.md").write_text("# My corpus\n\nNotes about these files.\n", encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def result(corpus: Path) -> ReadResult:
    return read_corpus(corpus, max_bytes=MAX_BYTES)


def _problem(result: ReadResult, source: str) -> Problem:
    matches = [p for p in result.problems if p.source == source]
    assert len(matches) == 1, f"expected one problem for {source}, got {result.problems}"
    return matches[0]


@pytest.mark.parametrize(
    ("source", "words"),
    [
        ("bad/empty.txt", "empty"),
        ("bad/blank.md", "empty"),
        ("bad/photo.txt", "binary"),
        ("bad/cp1252.txt", "UTF-8"),
        ("bad/malformed_front_matter.md", "front matter"),
        ("bad/report.pdf", "unsupported"),
        ("bad/notes.docx", "unsupported"),
        ("bad/huge.txt", "too large"),
        ("bad/partly_broken.jsonl#2", "invalid JSON"),
        ("bad/partly_broken.jsonl#3", "not a JSON object"),
        ("bad/partly_broken.jsonl#5", "empty body"),
        ("zz_beeper_mini (copy).md", "same article as beeper_mini.md"),
        ("zz_dawn_again.txt", "same article as dawn_cartels.txt"),
    ],
)
def test_bad_file_is_named_and_skipped(result: ReadResult, source: str, words: str) -> None:
    problem = _problem(result, source)
    assert problem.skipped
    assert words in problem.message
    assert str(problem).startswith(source + ": ")
    assert all(a.source != source for a in result.articles)


def test_the_rest_is_read(result: ReadResult) -> None:
    assert len(result.articles) == GOOD_ARTICLES
    sources = {a.source for a in result.articles}
    assert {"bad/partly_broken.jsonl#1", "bad/partly_broken.jsonl#6"} <= sources
    assert len({a.id for a in result.articles}) == GOOD_ARTICLES


def test_only_real_problems_are_reported(result: ReadResult) -> None:
    """Hidden files and a README are not articles: they are neither read nor reported."""
    assert not [p for p in result.problems if "DS_Store" in p.source or "README" in p.source]
    assert [p.source for p in result.warnings] == ["asx_markets.txt"]


def test_messages_say_what_to_do(result: ReadResult) -> None:
    hints = {
        "bad/cp1252.txt": "UTF-8",
        "bad/huge.txt": "split",
        "bad/report.pdf": ".md",
        "bad/malformed_front_matter.md": "YAML",
    }
    for source, hint in hints.items():
        assert hint in _problem(result, source).message


def test_missing_corpus_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="RAG_CORPUS_DIR"):
        read_corpus(tmp_path / "nowhere")


@pytest.mark.parametrize(
    ("name", "data", "words"),
    [
        ("empty.md", b"", "empty"),
        ("photo.html", b"\x00\x01\x02GIF89a", "binary"),
        ("latin1.txt", "Caf\u00e9 society returns, the mayor said.".encode("latin-1"), "UTF-8"),
        ("page.pdf", b"%PDF-1.7", "unsupported"),
        ("broken.json", b'{"url": "https://x.example", "body": ', "invalid JSON"),
        ("nobody.html", b"<html><body><nav>Home</nav></body></html>", "no article text"),
    ],
)
def test_uploaded_bad_bytes_are_reported(name: str, data: bytes, words: str) -> None:
    """The same checks for an upload read from memory."""
    result = parse_bytes(name, data, max_bytes=MAX_BYTES)
    assert not result.articles
    [problem] = result.problems
    assert problem.source == name and problem.skipped and words in problem.message


def test_uploaded_oversized_bytes_are_refused() -> None:
    result = parse_bytes("big.txt", _article_text().encode() * 100, max_bytes=MAX_BYTES)
    assert not result.articles and "too large" in result.problems[0].message
