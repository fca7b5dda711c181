"""Each supported format read from real article files (tests/fixtures/formats), metadata attached."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from rag.ingest import ReadResult, read_corpus, read_file
from rag.types import UNKNOWN_OUTLET, Article

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
FORMATS = FIXTURES / "formats"


def _one(name: str) -> tuple[Article, ReadResult]:
    result = read_file(FORMATS / name, name)
    assert len(result.articles) == 1, result.problems
    return result.articles[0], result


def test_markdown_with_front_matter() -> None:
    art, result = _one("beeper_mini.md")
    assert not result.problems
    assert art.outlet == "TechCrunch"
    assert art.title == "Beeper Mini is back in operation after Apple’s attempt to shut it down"
    assert art.published == "2023-12-11"
    assert (
        art.url
        == art.id
        == ("https://techcrunch.com/2023/12/11/beeper-mini-is-back-in-operation-after-apples-attempt-to-shut-it-down/")
    )
    assert art.body.startswith("Beeper Mini, the app bringing blue bubble iMessage texts")
    # Markdown syntax is not article text: link words kept, link targets, images and markers dropped.
    assert "Founded by former Pebble smartwatch founder Eric Migicovsky, Beeper" in art.body
    assert "over 100,000 downloads in its first 48 hours" in art.body
    for syntax in ("](", "![", "**", "## ", "wikipedia.org", "beeper.png", "---", "outlet:"):
        assert syntax not in art.body


def test_text_with_front_matter() -> None:
    art, result = _one("onana_guardian.txt")
    assert not result.problems
    assert (art.outlet, art.published) == ("The Guardian", "2023-10-28")
    assert art.title == "Ten Hag demands both positivity and pragmatism from erratic Onana"
    assert art.id.startswith("https://www.theguardian.com/football/2023/oct/28/")
    assert art.body.startswith("Erik ten Hag smiles when asked if André Onana")


def test_plain_text_outlet_from_published_in_line() -> None:
    art, result = _one("dawn_cartels.txt")
    assert not result.problems
    assert art.outlet == "Dawn"
    assert art.published == "2026-03-06"  # "March 6th, 2026" in the footer
    assert art.id == "dawn_cartels.txt" and art.url == ""
    assert "Published in" not in art.body
    assert art.body.endswith("gathered at the US Southern Command headquarters.")


def test_plain_text_without_outlet_is_unknown_with_a_warning() -> None:
    art, result = _one("asx_markets.txt")
    assert art.outlet == UNKNOWN_OUTLET
    [warning] = result.problems
    assert warning.source == "asx_markets.txt" and not warning.skipped
    assert UNKNOWN_OUTLET in warning.message
    # A short first line that is not a sentence is the headline, not body text.
    assert art.title == "ASX set to open lower as Wall Street closes September with more losses"
    assert art.body.startswith("Treasury Wine Estates (down 1.9 per cent)")
    assert art.published == ""


def test_html_main_text_and_metadata() -> None:
    art, result = _one("spotify_verge.html")
    assert not result.problems
    assert art.outlet == "The Verge"
    assert art.title == "The new, ‘efficient’ Spotify has a very different approach to podcasting"
    assert art.published == "2023-10-25"
    assert (
        art.url == art.id == "https://www.theverge.com/2023/10/25/23931833/spotify-efficient-daniel-ek-rogan-cooper-ai"
    )
    assert art.body.startswith("Spotify shareholders are thrilled")
    # Navigation, scripts, styles, sidebars and footers are not the article.
    for boilerplate in (
        "dataLayer",
        "font-family",
        "Most popular",
        "Cookie settings",
        "All Rights Reserved",
        "Reviews",
    ):
        assert boilerplate not in art.body


def test_json_record() -> None:
    art, result = _one("billie_jean_king.json")
    record = json.loads((FORMATS / "billie_jean_king.json").read_text())
    assert not result.problems
    assert (art.id, art.url, art.outlet, art.title) == (record["url"], record["url"], "Fortune", record["title"])
    assert art.published == "2023-10-13"
    assert art.body == record["body"]


def test_jsonl_records() -> None:
    result = read_file(FORMATS / "records.jsonl", "records.jsonl")
    records = [json.loads(line) for line in (FORMATS / "records.jsonl").read_text().splitlines()]
    assert not result.problems
    assert [a.id for a in result.articles] == [r["url"] for r in records]
    assert [a.outlet for a in result.articles] == ["Sky Sports", "TechCrunch"]
    assert [a.source for a in result.articles] == ["records.jsonl#1", "records.jsonl#2"]
    assert [a.body for a in result.articles] == [r["body"] for r in records]


def test_whole_folder_reads_every_format() -> None:
    result = read_corpus(FORMATS)
    assert len(result.articles) == 8
    assert not result.skipped
    assert {p.source for p in result.warnings} == {"asx_markets.txt"}
    for art in result.articles:
        assert art.body == art.body.strip() and art.title and art.outlet


@pytest.mark.parametrize("name", ["beeper_mini.md", "dawn_cartels.txt", "spotify_verge.html"])
def test_crlf_line_endings_read_the_same(tmp_path: Path, name: str) -> None:
    original = read_file(FORMATS / name, name).articles[0]
    crlf = tmp_path / name
    crlf.write_bytes((FORMATS / name).read_bytes().replace(b"\n", b"\r\n"))
    assert read_file(crlf, name).articles[0].body == original.body


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.md"
    path.write_bytes(b"\xef\xbb\xbf" + (FORMATS / "beeper_mini.md").read_bytes())
    art = read_file(path, "bom.md").articles[0]
    assert art.outlet == "TechCrunch" and not art.body.startswith("\ufeff")


def test_html_without_a_date_is_undated_not_guessed(tmp_path: Path) -> None:
    """Regression: a footer's "© 2023" once became the publication date 2023-01-01."""
    html = (FORMATS / "spotify_verge.html").read_text(encoding="utf-8")
    html = re.sub(r'\s*<meta property="article:published_time"[^>]*>', "", html).replace("/2023/10/25/", "/podcasts/")
    assert "© 2023" in html
    path = tmp_path / "undated.html"
    path.write_text(html, encoding="utf-8")
    [art] = read_file(path, "undated.html").articles
    assert art.published == ""
    assert art.outlet == "The Verge" and art.body.startswith("Spotify shareholders")
