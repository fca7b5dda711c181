"""MultiHop-RAG scoring on hand-made cases: the benchmark's normalisation, ranks, and the aggregates."""

from __future__ import annotations

import pytest

from rag.multihop import (
    Item,
    RetrievalScore,
    answer_contains,
    by_type,
    fact_ranks,
    is_yes_no,
    passages_answer,
    score_answer,
    score_retrieval,
    squash,
    summarise,
    summarise_answers,
)
from rag.types import Answer, Citation


def test_squash_removes_only_spaces_and_newlines():
    assert squash("a b\nc\td") == "abc\td"


def test_fact_found_across_different_spacing_and_line_breaks():
    chunks = ["Nothing here.", "The company said\nrevenue  rose 5%. Other text."]
    assert fact_ranks(["The company said revenue rose 5%."], chunks) == [2]


def test_fact_ranks_only_look_at_the_top_k():
    chunks = [f"chunk {i}" for i in range(12)] + ["the fact"]
    assert fact_ranks(["the fact"], chunks) == [None]
    assert fact_ranks(["the fact"], chunks, k=13) == [13]


def test_a_fact_must_be_whole_inside_one_chunk():
    assert fact_ranks(["alpha beta"], ["alpha", "beta"]) == [None]


def test_score_of_one_query():
    chunks = ["x", "y", "z", "w", "has fact B", "v", "has fact A"]
    s = score_retrieval(["fact A", "fact B", "fact C"], chunks)
    assert s == RetrievalScore(hits4=0.0, hits10=1.0, rr=pytest.approx(1 / 5), all_facts=0.0, fact_recall=2 / 3)


def test_all_facts_in_the_top_four():
    s = score_retrieval(["one", "two"], ["two and one"])
    assert (s.hits4, s.hits10, s.rr, s.all_facts, s.fact_recall) == (1.0, 1.0, 1.0, 1.0, 1.0)


def test_nothing_found():
    s = score_retrieval(["gold"], ["a", "b"])
    assert (s.hits4, s.hits10, s.rr, s.all_facts, s.fact_recall) == (0.0, 0.0, 0.0, 0.0, 0.0)


def _answer(text: str, quotes: list[str] = (), refused: bool = False) -> Answer:
    cites = [Citation(i + 1, "O", "T", "2023-10-01", "u", "a", q, 0, len(q)) for i, q in enumerate(quotes)]
    return Answer("q", text, cites, refused)


def test_answer_found_in_text_or_quotes_case_insensitive_without_final_period():
    assert answer_contains("Sam Altman.", _answer("It was sam altman, said X [1]"))
    assert answer_contains("Google", _answer("Summary [1]", ["The suit names Google and others."]))
    assert not answer_contains("Amazon", _answer("Google [1]", ["Google"]))


def test_yes_no_detection():
    assert is_yes_no("Yes") and is_yes_no("no.") and not is_yes_no("Insufficient information.")


def _item(qtype: str, retrieval: RetrievalScore | None, refused: bool, found: bool | None = None) -> Item:
    return Item("q", qtype, "g", 0 if retrieval is None else 2, retrieval, refused=refused, answer_found=found)


def test_summary_scores_retrieval_on_non_null_and_refusals_by_type():
    hit = RetrievalScore(1.0, 1.0, 1.0, 1.0, 1.0)
    miss = RetrievalScore(0.0, 1.0, 0.2, 0.0, 0.5)
    items = [
        _item("comparison_query", hit, refused=False, found=None),
        _item("inference_query", miss, refused=True, found=False),
        _item("inference_query", hit, refused=False, found=True),
        _item("null_query", None, refused=True),
        _item("null_query", None, refused=False),
    ]
    s = summarise(items)
    assert s["scored"] == 3
    assert s["hits4"] == pytest.approx(2 / 3, abs=1e-4)
    assert s["rr"] == pytest.approx((1 + 0.2 + 1) / 3, abs=1e-4)
    assert s["fact_recall"] == pytest.approx(2.5 / 3, abs=1e-4)
    assert s["null_refusal"] == 0.5
    assert s["false_refusal"] == pytest.approx(1 / 3, abs=1e-4)
    assert s["answer_found"] == 0.5 and s["answer_found_n"] == 2
    table = by_type(items)
    assert set(table) == {"comparison_query", "inference_query", "null_query", "overall"}
    assert table["null_query"]["hits4"] is None and table["null_query"]["null_refusal"] == 0.5
    assert table["inference_query"]["false_refusal"] == 0.5


def _cited(text: str, urls: list[str], refused: bool = False) -> Answer:
    cites = [Citation(i + 1, "O", "T", "2023-10-01", u, u, f"quote {i}", 0, 7) for i, u in enumerate(urls)]
    return Answer("q", text, cites, refused)


ROW = {
    "type": "inference_query",
    "answer": "Sam Altman",
    "evidence": [{"url": "u1", "fact": "f1"}, {"url": "u2", "fact": "f2"}, {"url": "u1", "fact": "f3"}],
}


def test_answer_metrics_of_one_answer():
    s = score_answer(ROW, _cited("SamAltman [1][2][3]", ["u1", "x", "u1"]))
    # Space- and case-insensitive entity; 2 of 3 citations are gold articles; 1 of the 2 gold articles cited.
    assert s.entity is True
    assert s.precision == pytest.approx(2 / 3) and s.coverage == 0.5
    assert (s.chars, s.citations, s.refused) == (len("SamAltman [1][2][3]"), 3, False)


def test_answer_metrics_of_a_refusal_and_of_a_null_query():
    s = score_answer(ROW, _cited("refused", [], refused=True))
    assert s.entity is False and s.precision is None and s.coverage == 0.0
    s = score_answer({"type": "null_query", "answer": "Insufficient information.", "evidence": []}, _cited("x", []))
    assert s.entity is None and s.coverage is None


def test_answer_summary_medians_are_over_answered_questions():
    scores = [
        score_answer(ROW, _cited("a" * 100, ["u1"])),
        score_answer(ROW, _cited("b" * 300, ["u1", "u2", "x"])),
        score_answer(ROW, _cited("refused", [], refused=True)),
    ]
    s = summarise_answers(scores)
    assert s["median_chars"] == 200 and s["median_citations"] == 2
    assert s["coverage"] == pytest.approx((0.5 + 1.0 + 0.0) / 3, abs=1e-4)
    assert s["precision"] == pytest.approx((1.0 + 2 / 3) / 2, abs=1e-4)


def test_the_baseline_answer_is_the_top_passages_whole():
    from rag.types import ArticleRef, Chunk, Hit

    hits = [
        Hit(Chunk(f"a{i}", 0, 5, f"text{i}", id=i), ArticleRef(f"a{i}", "O", "T", "", f"u{i}"), 1.0) for i in range(6)
    ]
    a = passages_answer("q", hits)
    assert [c.url for c in a.citations] == ["u0", "u1", "u2", "u3"] and not a.refused
    assert all(c.quote in a.text for c in a.citations)
