"""Article identity (URL, else path; `#line` for JSON Lines records), content hashes, publication dates."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path

import pytest

from rag.ingest import parse_bytes, read_corpus
from rag.ingest.dates import normalise_date
from rag.types import Article, content_hash

BODY = "Officials met on Thursday to discuss the plan. They agreed to meet again next week."


def _md(url: str = "", outlet: str = "Reuters", body: str = BODY) -> bytes:
    url_line = f"url: {url}\n" if url else ""
    return f"---\noutlet: {outlet}\ntitle: Talks resume\npublished: '2024-05-02'\n{url_line}---\n\n{body}\n".encode()


def test_id_is_the_url_when_there_is_one() -> None:
    [art] = parse_bytes("talks.md", _md(url="https://example.com/news/talks")).articles
    assert art.id == "https://example.com/news/talks"
    assert art.source == "talks.md"


def test_id_is_the_relative_path_without_url(tmp_path: Path) -> None:
    (tmp_path / "world").mkdir()
    (tmp_path / "world" / "talks.md").write_bytes(_md())
    [art] = read_corpus(tmp_path).articles
    assert art.id == "world/talks.md"
    assert art.url == ""


def test_jsonl_records_without_url_get_line_ids() -> None:
    lines = [
        json.dumps({"outlet": "AP", "title": "One", "published": "2024-01-01", "body": "First body text here."}),
        "",
        json.dumps({"outlet": "AP", "title": "Two", "published": "2024-01-02", "body": "Second body text here."}),
        json.dumps({"url": "https://ap.example/3", "outlet": "AP", "title": "Three", "body": "Third body here."}),
    ]
    arts = parse_bytes("feed.jsonl", "\n".join(lines).encode()).articles
    assert [a.id for a in arts] == ["feed.jsonl#1", "feed.jsonl#3", "https://ap.example/3"]
    assert [a.source for a in arts] == ["feed.jsonl#1", "feed.jsonl#3", "feed.jsonl#4"]


def _article(**changes: str) -> Article:
    base = Article(
        id="https://example.com/a",
        outlet="Reuters",
        title="Talks resume",
        published="2024-05-02",
        url="https://example.com/a",
        body=BODY,
        source="a.md",
    )
    return dataclasses.replace(base, **changes)


@pytest.mark.parametrize(
    "change",
    [
        {"body": BODY + " One more sentence."},
        {"body": BODY.replace("Thursday", "Friday")},
        {"title": "Talks resumed"},
        {"outlet": "AP"},
        {"published": "2024-05-03"},
        {"url": "https://example.com/b"},
    ],
)
def test_any_indexed_change_changes_the_hash(change: dict[str, str]) -> None:
    assert _article(**change).hash != _article().hash


def test_source_path_is_not_part_of_the_hash() -> None:
    assert _article(source="renamed/elsewhere.md").hash == _article().hash


def test_same_file_under_two_names_hashes_the_same() -> None:
    a = parse_bytes("one.md", _md(url="https://example.com/x")).articles[0]
    b = parse_bytes("two.md", _md(url="https://example.com/x")).articles[0]
    assert a.hash == b.hash and a.id == b.id and a.source != b.source


def test_hash_parts_are_separated() -> None:
    """Moving text from one field to the next is a change ("ab"+"c" must not equal "a"+"bc")."""
    assert content_hash("ab", "c") != content_hash("a", "bc")
    assert len(content_hash("x")) == 64


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2023-12-07T16:12:30+00:00", "2023-12-07"),
        ("2025-09", "2025-09"),
        ("2026", "2026"),
        ("March 6th, 2026", "2026-03-06"),
        ("Dec. 7, 2023", "2023-12-07"),
        ("March 2026", "2026-03"),  # month precision is kept, not turned into the 1st
        (dt.date(2024, 2, 29), "2024-02-29"),
        (dt.datetime(2024, 2, 29, 23, 59), "2024-02-29"),
        # Relative or year-less dates cannot date an article read later: unknown, not guessed.
        ("yesterday", ""),
        ("Thursday", ""),
        ("2 days ago", ""),
        ("not a date", ""),
        ("2023-13-45", ""),
        (None, ""),
        ("", ""),
    ],
)
def test_normalise_date(value: object, expected: str) -> None:
    assert normalise_date(value) == expected


def test_unquoted_yaml_date_is_read() -> None:
    data = b"---\noutlet: AP\ntitle: T\npublished: 2024-05-02\n---\n\nA body sentence of the article here.\n"
    assert parse_bytes("a.md", data).articles[0].published == "2024-05-02"
