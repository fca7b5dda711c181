"""The committed seed corpus: five articles whose metadata matches ../shared/seeds/sources.json, bodies clean."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag.ingest import ReadResult, read_corpus

ROOT = Path(__file__).resolve().parents[2]
SEEDS = ROOT / "seeds"
SOURCES = json.loads((ROOT.parent / "shared" / "seeds" / "sources.json").read_text(encoding="utf-8"))["articles"]

#: Text in the raw seeds that is not the article (see sources.json's "_about").
NOISE = [
    "date 2026-",  # the scraper's date prefix
    "Wrong Way",  # a photo caption ...
    "Abhishek Navlakha",  # ... and its credit
    "· · ·",  # the separator around the caption
    "tax-deductible",  # the donation appeal
    "reader support",
    "Press freedom is under attack",
    "Published in Dawn",  # the footer, kept as metadata instead
]


@pytest.fixture(scope="module")
def seeds() -> ReadResult:
    return read_corpus(SEEDS)


def test_five_articles_read_without_problems(seeds: ReadResult) -> None:
    assert len(seeds.articles) == 5 == len(SOURCES)
    assert seeds.problems == []


@pytest.mark.parametrize("meta", SOURCES, ids=lambda m: m["file"][:3])
def test_metadata_matches_sources_json(seeds: ReadResult, meta: dict) -> None:
    by_url = {a.url: a for a in seeds.articles}
    art = by_url[meta["url"]]
    assert art.id == meta["url"]
    assert (art.outlet, art.title, art.published) == (meta["outlet"], meta["title"], meta["published"])
    assert Path(art.source).stem == Path(meta["file"]).stem


@pytest.mark.parametrize("noise", NOISE)
def test_no_noise_in_any_body(seeds: ReadResult, noise: str) -> None:
    for art in seeds.articles:
        assert noise not in art.body, f"{art.source} still contains {noise!r}"


def test_no_dangling_heading_at_the_end(seeds: ReadResult) -> None:
    for art in seeds.articles:
        last_line = art.body.rstrip().splitlines()[-1].strip()
        assert last_line.lower() not in {"sources", "source", "references"}
        assert last_line.endswith((".", "”", '"', "?", "!")), f"{art.source} ends with {last_line[-60:]!r}"


def test_bodies_are_the_raw_article_text(seeds: ReadResult) -> None:
    """Cleaning removes noise but never rewrites the article: every paragraph is verbatim in the raw file."""
    raw_dir = ROOT.parent / "shared" / "seeds"
    for art in seeds.articles:
        raw = " ".join((raw_dir / (Path(art.source).stem + ".txt")).read_text(encoding="utf-8").split())
        for paragraph in art.body.split("\n\n"):
            assert " ".join(paragraph.split()) in raw, f"{art.source}: {paragraph[:80]!r} not in the raw text"
