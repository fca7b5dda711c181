"""The citation checks of rag/answer/verify.py, with a deterministic bag-of-words embedder standing in for the
model (the real model is used in tests/integration/test_llm_answers.py): marker parsing, statement splitting,
names and numbers, support, repair of citations, and exact quote spans."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from rag.answer.verify import (
    Passage,
    SupportScorer,
    check,
    compose,
    entity_coverage,
    names_and_numbers,
    parse_markers,
    split_statements,
)
from rag.text.tokens import tokenize
from rag.types import ArticleRef, Chunk, Hit

DIM = 256


class BagOfWordsEmbedder:
    """Hashed, normalised bag of stemmed content words: sentences sharing words are similar, others are not."""

    dimension = DIM

    def encode(self, texts, progress=None, batch_size=None):
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        for i, toks in enumerate(tokenize(list(texts))):
            for t in toks:
                out[i, int(hashlib.sha1(t.encode()).hexdigest(), 16) % DIM] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1, norms)


BODY_A = (
    "Intro line of the article.\n"
    "The minister announced 12 new hospitals in the northern province on Monday. "
    "She said construction would start next spring. "
    "Opposition leaders called the plan unrealistic."
)
BODY_B = "Heavy rain flooded the coastal town of Marlow. Rescue teams evacuated 300 residents overnight."


def _passage(n: int, body: str, outlet: str, aid: str) -> Passage:
    start = body.index("\n") + 1 if "\n" in body else 0
    chunk = Chunk(article_id=aid, start=start, end=len(body), text=body[start:], id=n * 10)
    ref = ArticleRef(id=aid, outlet=outlet, title=f"Title {aid}", published="2025-03-01", url=f"https://x/{aid}")
    return Passage(n=n, hit=Hit(chunk=chunk, article=ref, score=1.0), body=body)


@pytest.fixture
def passages() -> list[Passage]:
    return [_passage(1, BODY_A, "Daily Planet", "a"), _passage(2, BODY_B, "Coast News", "b")]


def _run(text: str, passages: list[Passage], threshold: float = 0.5, flag: bool = False):
    statements = split_statements(text, [p.n for p in passages])
    check(statements, SupportScorer(BagOfWordsEmbedder(), passages), threshold)
    return statements, compose(statements, passages, flag_unsupported=flag)


def test_parse_markers_forms() -> None:
    assert parse_markers("1, 2") == [1, 2]
    assert parse_markers("2-4") == [2, 3, 4]
    assert parse_markers("Passage 3") == [3]
    assert parse_markers("1 and 5") == [1, 5]


def test_split_statements_attaches_leading_markers_and_separates_invalid_ones() -> None:
    sts = split_statements("The minister announced new hospitals. [1] Rescue teams evacuated residents [2][7].", [1, 2])
    assert [s.text for s in sts] == ["The minister announced new hospitals.", "Rescue teams evacuated residents."]
    assert sts[0].cited == [1]
    assert sts[1].cited == [2] and sts[1].invalid == [7]


def test_framing_sentence_states_nothing() -> None:
    text = "Here is what the passages say. The minister announced twelve hospitals in the province [1]."
    sts = split_statements(text, [1])
    assert [s.states for s in sts] == [False, True]


def test_names_and_numbers() -> None:
    names, numbers = names_and_numbers("However, Rubio said 12 boats and three ships were hit in September, 2025.")
    assert "rubio" in names and "september" in names and "however" not in names
    assert set(numbers) == {"12", "3", "2025"}
    assert entity_coverage("Rubio saw 13 boats.", "Rubio saw 12 boats.") == (1.0, 0.0)
    assert entity_coverage("Rubio saw twelve boats.", "Rubio saw 12 boats.") == (1.0, 1.0)


def test_good_answer_keeps_citation_with_exact_supporting_span(passages) -> None:
    _, v = _run("The minister announced 12 new hospitals in the northern province [1].", passages)
    assert v.kept == 1 and not v.dropped
    (c,) = v.citations
    assert c.n == 1 and c.outlet == "Daily Planet" and c.chunk_id == 10
    assert c.quote == BODY_A[c.start : c.end]
    assert c.quote.startswith("The minister announced 12 new hospitals")
    assert "Intro line" not in c.quote  # the quote is the supporting sentence(s), not the whole passage
    assert v.text.endswith("[1].")


def test_marker_to_missing_passage_is_removed(passages) -> None:
    _, v = _run("Rescue teams evacuated 300 residents from Marlow [2][5].", passages)
    assert v.invalid_markers == [5]
    assert "[5]" not in v.text and "[2]" not in v.text  # renumbered: the first cited passage becomes [1]
    assert v.text.endswith("[1].") and [c.outlet for c in v.citations] == ["Coast News"]


def test_unsupported_sentence_is_dropped_or_flagged(passages) -> None:
    text = "The minister announced 12 new hospitals [1]. The minister also promised free trains to Mars [1]."
    _, v = _run(text, passages)
    assert v.kept == 1 and v.dropped == ["The minister also promised free trains to Mars."]
    assert "Mars" not in v.text
    _, flagged = _run(text, passages, flag=True)
    assert "Mars. [unsupported]" in flagged.text


def test_wrong_number_is_not_supported(passages) -> None:
    _, v = _run("The minister announced 40 new hospitals in the northern province [1].", passages)
    assert v.kept == 0 and v.citations == [] and v.text == ""


def test_uncited_or_miscited_sentence_is_recited_to_its_passage(passages) -> None:
    text = "Rescue teams evacuated 300 residents overnight [1]. Heavy rain flooded the town of Marlow."
    sts, v = _run(text, passages)
    assert [s.sources for s in sts] == [[2], [2]]
    assert v.repaired == 2 and len(v.citations) == 1 and v.citations[0].outlet == "Coast News"


def test_irrelevant_extra_citation_is_removed(passages) -> None:
    sts, v = _run("Opposition leaders called the hospital plan unrealistic [1][2].", passages)
    assert sts[0].sources == [1]
    assert [c.outlet for c in v.citations] == ["Daily Planet"]


def test_citations_numbered_in_order_of_first_use(passages) -> None:
    text = "Rescue teams evacuated 300 residents [2]. The minister announced 12 new hospitals [1]."
    _, v = _run(text, passages)
    assert [c.outlet for c in v.citations] == ["Coast News", "Daily Planet"]
    assert "residents [1]." in v.text and "hospitals [2]." in v.text
    for c in v.citations:
        assert f"[{c.n}]" in v.text


def test_quote_spans_all_supporting_windows_of_a_passage(passages) -> None:
    text = "The minister announced 12 new hospitals in the province [1]. Opposition leaders called it unrealistic [1]."
    _, v = _run(text, passages)
    (c,) = v.citations
    assert c.quote == BODY_A[c.start : c.end]
    assert c.quote.startswith("The minister") and c.quote.endswith("unrealistic.")
