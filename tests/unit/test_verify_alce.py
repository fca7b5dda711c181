"""ALCE citation recall and precision (rag/answer/alce.py) with a transparent judge, and the lexical judge."""

from __future__ import annotations

from rag.answer.alce import lexical_judge, mean_scores, score_answer
from rag.answer.verify import Passage
from rag.types import ArticleRef, Chunk, Hit


def _p(n: int, text: str) -> Passage:
    ref = ArticleRef(id=f"a{n}", outlet="Daily Planet", title="Budget news", published="2025-03-01", url="")
    return Passage(n, Hit(chunk=Chunk(f"a{n}", 0, len(text), text, n), article=ref, score=1.0), text)


# The judge: every word of the sentence (lower-cased, no punctuation) appears in the joined passages.
def judge(sentence, passages) -> bool:
    have = set(" ".join(p.hit.chunk.text for p in passages).lower().replace(".", "").split())
    return set(sentence.lower().replace(".", "").split()) <= have


P = {1: _p(1, "the council approved the budget"), 2: _p(2, "the mayor praised the council"), 3: _p(3, "rain fell")}


def test_all_supported_single_citations() -> None:
    s = score_answer("The council approved the budget [1]. The mayor praised the council [2].", P, judge)
    assert (s.recall, s.precision, s.sentences, s.citations) == (1.0, 1.0, 2, 2)


def test_uncited_and_out_of_range_sentences_fail_recall() -> None:
    s = score_answer("The council approved the budget. The mayor praised the council [7].", P, judge)
    assert s.recall == 0.0 and s.precision == 0.0 and s.citations == 1


def test_irrelevant_extra_citation_lowers_precision_only() -> None:
    s = score_answer("The council approved the budget [1][3].", P, judge)
    assert s.recall == 1.0 and s.precision == 0.5


def test_citations_needed_together_are_all_relevant() -> None:
    s = score_answer("The mayor praised the council approved budget [1][2].", P, judge)
    assert s.recall == 1.0 and s.precision == 1.0


def test_unsupported_sentence_counts_its_citations_as_irrelevant() -> None:
    s = score_answer("The council approved the budget [1]. Rain fell on the mayor [3].", P, judge)
    assert s.recall == 0.5 and s.precision == 0.5


def test_marker_after_the_full_stop_belongs_to_the_sentence() -> None:
    assert score_answer("The council approved the budget. [1]", P, judge).recall == 1.0


def test_marker_after_the_full_stop_then_more_text_belongs_to_the_sentence_before() -> None:
    # The extractive answer's layout: "<quote>. [1] <next quote>. [2]"; a splitter puts "[1]" at the start
    # of the next sentence.
    s = score_answer("The council approved the budget. [1] The mayor praised the council. [2]", P, judge)
    assert (s.recall, s.precision, s.sentences, s.citations) == (1.0, 1.0, 2, 2)


def test_mean_scores_and_lexical_judge() -> None:
    a = score_answer("The council approved the budget [1].", P, judge)
    b = score_answer("Rain fell [1].", P, judge)
    assert mean_scores([a, b])["recall"] == 0.5
    budget = _p(1, "The council approved a budget of 4.2 million dollars on Tuesday.")
    assert lexical_judge("The council approved the 4.2 million dollar budget.", [budget])
    assert not lexical_judge("The council approved the 5.2 million dollar budget.", [budget])
    assert not lexical_judge("The council rejected the plan after protests downtown.", [budget])
