"""Text around an article that is not the article is cut from its body; what it tells is kept as metadata."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.ingest import read_file
from rag.ingest.clean import clean_body

ROOT = Path(__file__).resolve().parents[2]
NOISY = ROOT / "tests" / "fixtures" / "noisy"
RAW_SEEDS = ROOT.parent / "shared" / "seeds"

P1 = "The council approved the budget on Tuesday after a long debate."
P2 = "Opposition members said the plan would raise local taxes by 4 per cent."


def test_date_prefix_becomes_the_date() -> None:
    out = clean_body(f" date 2026-03-05 {P1}\n\n{P2}")
    assert out.body == f"{P1}\n\n{P2}"
    assert out.published == "2026-03-05"


def test_read_time_and_repeated_title_are_cut() -> None:
    out = clean_body(f"Budget approved\n\n4 min read\n\n{P1}\n\n{P2}", title="Budget  approved")
    assert out.body == f"{P1}\n\n{P2}"


def test_published_in_footer_gives_outlet_and_date() -> None:
    out = clean_body(f"{P1}\n\n{P2}\n\nPublished in Dawn, March 6th, 2026")
    assert out.body == f"{P1}\n\n{P2}"
    assert (out.outlet, out.published) == ("Dawn", "2026-03-06")


@pytest.mark.parametrize("heading", ["Sources", "Sources:", "## Related", "Read more", "SEE ALSO"])
def test_dangling_heading_is_cut(heading: str) -> None:
    assert clean_body(f"{P1}\n\n{P2}\n\n{heading}").body == f"{P1}\n\n{P2}"


def test_donation_appeal_is_cut() -> None:
    appeal = (
        "Independent journalism needs you\n\n"
        "Our work is possible thanks to reader support. Make a tax-deductible donation today."
    )
    assert clean_body(f"{P1}\n\n{P2}\n\n{appeal}").body == f"{P1}\n\n{P2}"


def test_stacked_noise_at_the_end_is_all_cut() -> None:
    text = f"{P1}\n\n{P2}\n\nPublished in Dawn, March 6th, 2026\n\nSources"
    out = clean_body(text)
    assert out.body == f"{P1}\n\n{P2}" and out.outlet == "Dawn"


def test_article_text_that_merely_mentions_such_words_is_kept() -> None:
    """Only whole lines of a known shape at the start or end are cut, never sentences inside the article."""
    body = (
        "Sources close to the minister said the vote was delayed.\n\n"
        "The article was published in Dawn, a Pakistani newspaper, last year, she said.\n\n"
        "Readers were asked to donate now to the flood relief fund, officials said on Friday."
    )
    out = clean_body(body)
    assert out.body == body
    assert out.outlet == ""


def test_story_about_donations_is_not_an_appeal() -> None:
    """Regression: a paragraph mentioning 'tax-deductible' once cut the whole (short) article away."""
    body = (
        "The charity said gifts are tax-deductible under the new law, which takes effect in January.\n\n"
        "The minister welcomed the change."
    )
    assert clean_body(body).body == body


def test_appeal_never_takes_the_whole_text() -> None:
    body = "A short report of one line here.\n\nSupport our journalism: donate now, we need you."
    assert clean_body(body).body == "A short report of one line here."


def test_noisy_fixture_is_cleaned_end_to_end() -> None:
    [art] = read_file(NOISY / "gemini_export.txt", "gemini_export.txt").articles
    assert art.title == "Early impressions of Google’s Gemini aren’t great"
    assert (art.outlet, art.published) == ("TechCrunch", "2023-12-07")
    assert art.body.startswith("This week, Google took the wraps off of Gemini")
    assert art.body.endswith("voicing their frustrations with it on X (formerly Twitter).")
    for noise in ("date 2023", "min read", "Published in", "Sources", "aren’t great"):
        assert noise not in art.body


# The raw seed texts as received (../shared/seeds): real noise, read by the same readers.


def _raw(name: str):
    [art] = read_file(RAW_SEEDS / name, name).articles
    return art


def test_raw_seed_date_prefix() -> None:
    art = _raw("000_2e8c190b5c412ed1.txt")
    assert art.published == "2026-03-05"
    assert art.body.startswith("At the inaugural")
    assert "date 2026" not in art.body


def test_raw_seed_published_in_dawn_footer() -> None:
    art = _raw("002_423b8f470e31f07f.txt")
    assert (art.outlet, art.published) == ("Dawn", "2026-03-06")
    assert "Published in" not in art.body


def test_raw_seed_dangling_sources_heading() -> None:
    art = _raw("003_f50a8274451efd07.txt")
    assert not art.body.rstrip().endswith("Sources")
    assert art.body.endswith("how far the US is willing to go in pursuit of its aims.")


def test_raw_seed_donation_appeal() -> None:
    art = _raw("004_64870d6b9f0c7ed1.txt")
    for appeal in ("tax-deductible", "reader support", "Press freedom is under attack", "independent media"):
        assert appeal not in art.body
    assert art.body.endswith("no matter the civilian impacts on people across the globe.")
