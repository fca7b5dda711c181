"""Asking the real seed index: cited answers, plain refusals, exact quotes, and filters that hold."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag.filters import in_date_range
from rag.pipeline import Pipeline
from rag.types import Answer

pytestmark = pytest.mark.slow

DEV = Path(__file__).resolve().parents[3] / "shared" / "eval" / "seeds_dev.jsonl"
QUESTIONS = [json.loads(line) for line in DEV.read_text(encoding="utf-8").splitlines() if line.strip()]
ANSWERABLE = [q for q in QUESTIONS if q.get("answerable", True)]
UNANSWERABLE = [q for q in QUESTIONS if not q.get("answerable", True)]


@pytest.fixture(scope="module")
def answers(seed_pipeline: Pipeline) -> dict[str, Answer]:
    """Every dev question asked once (the tests below check different properties of the same answers)."""
    return {q["id"]: seed_pipeline.ask(q["question"]) for q in QUESTIONS}


def _assert_citations_are_exact(pipeline: Pipeline, answer: Answer) -> None:
    given = {h.chunk.id for h in answer.hits}
    for n, c in enumerate(answer.citations, start=1):
        assert c.n == n and f"[{n}]" in answer.text
        article = pipeline.index.articles[c.article_id]
        assert article.body[c.start : c.end] == c.quote and c.quote.strip()
        assert c.quote in answer.text  # the answer quotes, it does not paraphrase
        chunk = pipeline.index.chunks[c.chunk_id]
        assert chunk.article_id == c.article_id and chunk.start <= c.start < c.end <= chunk.end
        assert c.chunk_id in given, "cites a passage it was not given"
        assert (c.outlet, c.title, c.published, c.url) == (
            article.outlet,
            article.title,
            article.published,
            article.url,
        )


def test_answers_a_seed_question_with_the_expected_outlet(answers: dict[str, Answer]) -> None:
    q = ANSWERABLE[0]
    answer = answers[q["id"]]
    assert not answer.refused and answer.citations
    assert {c.outlet for c in answer.citations} & set(q["expect_outlets"])
    haystack = (answer.text + " ".join(c.quote for c in answer.citations)).casefold()
    assert all(f.casefold() in haystack for f in q["expect_facts"])


@pytest.mark.parametrize("q", ANSWERABLE, ids=lambda q: q["id"])
def test_every_answerable_dev_question_cites_an_expected_outlet(answers: dict[str, Answer], q: dict) -> None:
    answer = answers[q["id"]]
    assert not answer.refused
    assert {c.outlet for c in answer.citations} & set(q["expect_outlets"])


@pytest.mark.parametrize("q", UNANSWERABLE, ids=lambda q: q["id"])
def test_unanswerable_is_refused_with_no_citations(answers: dict[str, Answer], q: dict) -> None:
    answer = answers[q["id"]]
    assert answer.refused and answer.citations == []
    assert "[1]" not in answer.text and answer.text.strip()


@pytest.mark.parametrize("q", QUESTIONS, ids=lambda q: q["id"])
def test_citation_quotes_are_exact_spans_inside_their_chunks(
    seed_pipeline: Pipeline, answers: dict[str, Answer], q: dict
) -> None:
    _assert_citations_are_exact(seed_pipeline, answers[q["id"]])


def test_outlet_filter_restricts_citations(seed_pipeline: Pipeline) -> None:
    question = "What did Stephen Miller say about defeating the cartels?"
    unfiltered = seed_pipeline.retrieve(seed_pipeline.search_query(question), k=10)
    assert {h.article.outlet for h in unfiltered} - {"Dawn"}, "the filter must have something to remove"
    answer = seed_pipeline.ask(question, outlets=["Dawn"])
    assert answer.citations and {c.outlet for c in answer.citations} == {"Dawn"}
    _assert_citations_are_exact(seed_pipeline, answer)
    assert all(h.article.outlet == "Dawn" for h in answer.hits)


def test_outlet_filter_is_case_insensitive(seed_pipeline: Pipeline) -> None:
    hits = seed_pipeline.retrieve(seed_pipeline.search_query("cartels", outlets=["al jazeera"]), k=10)
    assert hits and {h.article.outlet for h in hits} == {"Al Jazeera"}


@pytest.mark.parametrize(
    ("since", "until"),
    [("2026-01-01", None), (None, "2025-12-31"), ("2025-09-01", "2025-09-30"), ("2026-03-06", "2026-03-06")],
)
def test_date_filters_restrict_citations_and_hits(
    seed_pipeline: Pipeline, since: str | None, until: str | None
) -> None:
    question = "What military action did the Trump administration take against drug cartels?"
    answer = seed_pipeline.ask(question, since=since, until=until)
    assert answer.hits, "every range above contains at least one seed article"
    assert all(in_date_range(h.article.published, since, until) for h in answer.hits)
    assert all(in_date_range(c.published, since, until) for c in answer.citations)
    _assert_citations_are_exact(seed_pipeline, answer)


def test_filter_matching_nothing_is_a_refusal(seed_pipeline: Pipeline) -> None:
    answer = seed_pipeline.ask("What did Stephen Miller say about cartels?", outlets=["No Such Outlet"])
    assert answer.refused and answer.citations == [] and answer.hits == []
    answer = seed_pipeline.ask("What did Stephen Miller say about cartels?", since="2030-01-01")
    assert answer.refused and answer.citations == []
