"""Refusal pieces of the extractive answerer, without the model: unknown names, empty or irrelevant evidence.

A refusal says so plainly and cites nothing; an answer quotes `body[start:end]` from a passage it was given.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from rag.answer import extractive
from rag.config import Settings
from rag.retrieval import Retriever
from rag.sentence_vectors import SentenceVectors
from rag.text.tokens import tokenize
from rag.types import Article, ArticleRef, Hit, SearchQuery

from .helpers import memory_retriever


class FakeCorpus:
    """A `CorpusStats` of one text: `missing_names` reads the outlets and which (stemmed) terms it contains."""

    embedder = None

    def __init__(self, text: str, outlets: list[str]) -> None:
        self.text = text
        self.terms = set(tokenize([text])[0])
        self.outlets = outlets

    def knows(self, term: str) -> bool:
        return term in self.terms

    def idf(self, term: str) -> float:
        return 1.0

    def body(self, article_id: str) -> str:
        return self.text

    def sentences(self, chunk_ids: Sequence[int]) -> SentenceVectors | None:
        return None


CORPUS_TEXT = "Stephen Miller told the conference in Miami that cartels in Honduras face military force."


@pytest.mark.parametrize(
    ("question", "missing"),
    [
        ("What is the GDP of Honduras?", ["GDP"]),
        ("Which team won the 2025 Super Bowl?", ["Super Bowl"]),
        ("What did Stephen Miller say in Miami?", []),
        ("What did Miller tell the Kremlin?", ["Kremlin"]),
        # Sentence-initial capitals are ordinary words, but an acronym there still counts.
        ("Cartels were discussed where?", []),
        ("NATO said what about cartels?", ["NATO"]),
        # An outlet's name is a filter, not a topic the articles must mention.
        ("What did Dawn report about Miller?", []),
    ],
)
def test_missing_names(question: str, missing: list[str]) -> None:
    fake = FakeCorpus(CORPUS_TEXT, outlets=["Dawn", "Al Jazeera"])
    assert extractive.missing_names(question, fake) == missing


ARTICLE = Article(
    id="https://example.com/miller",
    outlet="Dawn",
    title="Military force is the only way, official says",
    published="2026-03-06",
    url="https://example.com/miller",
    body=(
        "Stephen Miller told a gathering of military leaders in Miami that cartels can only be defeated with "
        "military force. He spoke on Thursday. The conference drew delegations from across the region, and "
        "officials said more meetings were planned for the spring."
    ),
)


@pytest.fixture(scope="module")
def retriever() -> Retriever:
    return memory_retriever([ARTICLE])


def _hits(retriever: Retriever, cosine: float) -> list[Hit]:
    ref = ArticleRef(ARTICLE.id, ARTICLE.outlet, ARTICLE.title, ARTICLE.published, ARTICLE.url)
    return [Hit(c, ref, score=1.0, dense=cosine) for c in retriever.index.chunks.values()]


def _ask(retriever: Retriever, question: str, hits: list[Hit]):
    return extractive.answer(question, SearchQuery(text=question, question=question), hits, retriever, Settings())


def _assert_refusal(answer) -> None:
    assert answer.refused is True
    assert answer.citations == []
    assert answer.text == extractive.REFUSAL
    assert "[" not in answer.text


def test_no_passages_is_a_refusal(retriever: Retriever) -> None:
    _assert_refusal(_ask(retriever, "What did Stephen Miller say about cartels?", []))


def test_unknown_name_is_a_refusal_even_with_close_passages(retriever: Retriever) -> None:
    answer = _ask(retriever, "What did Stephen Miller say about the Zetas?", _hits(retriever, cosine=0.9))
    _assert_refusal(answer)
    assert any("Zetas" in w for w in answer.warnings)


def test_unrelated_passages_are_a_refusal(retriever: Retriever) -> None:
    """No question term in any sentence and a low cosine: nothing supports an answer."""
    _assert_refusal(_ask(retriever, "how expensive were the tickets overall", _hits(retriever, cosine=0.05)))


def test_supported_question_is_answered_with_exact_quotes(retriever: Retriever) -> None:
    answer = _ask(retriever, "How can cartels be defeated, according to Stephen Miller?", _hits(retriever, cosine=0.8))
    assert answer.refused is False
    assert answer.citations
    for n, c in enumerate(answer.citations, start=1):
        assert c.n == n and f"[{n}]" in answer.text
        assert ARTICLE.body[c.start : c.end] == c.quote
        assert c.outlet == "Dawn" and c.url == ARTICLE.url and c.article_id == ARTICLE.id
    assert "military force" in " ".join(c.quote for c in answer.citations)
