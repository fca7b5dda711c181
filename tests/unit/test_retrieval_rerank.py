"""The re-rank's sentence scores: a passage whose one sentence restates one part of a many-part question beats
a passage that touches more of the question's words in a vaguer sentence."""

from __future__ import annotations

from rag.config import Settings
from rag.types import Article, SearchQuery

from .helpers import memory_retriever

QUESTION = "Which company recalled its electric scooters over battery fires and cut its profit forecast for the year?"
ARTICLES = [
    # Restates the second part, word for word, in one sentence.
    Article("p", "Reuters", "Forecast", "2024-05-02", "", "Zoomco cut its profit forecast for the year. Rain fell."),
    # One sentence with more of the whole question's words, none of its parts in full.
    Article(
        "q",
        "Reuters",
        "Market",
        "2024-05-02",
        "",
        "The company said electric scooters and battery costs weighed on the year. Rain fell.",
    ),
    Article("r", "Reuters", "Other", "2024-05-02", "", "Gardens bloom in spring across the city parks."),
]


def _order(part_sentence_weight: float) -> list[str]:
    # Relevance alone (no coverage term), equal fused scores: only the sentence scores order the two.
    retriever = memory_retriever(ARTICLES, Settings(diversity=0.0, part_sentence_weight=part_sentence_weight))
    analysis = retriever.read(QUESTION)
    parts = [sq for sq in analysis.subqueries if sq.kind == "part"]
    assert [p.text for p in parts] == [
        "Which company recalled its electric scooters over battery fires",
        "cut its profit forecast for the year",
    ]
    pool = [(0, 1.0), (1, 1.0)]  # chunk ids
    ranked = retriever._rerank(SearchQuery(QUESTION), pool, parts, [None] * len(parts), {}, k=2)
    return [retriever.index.chunks[cid].article_id for cid, _ in ranked]


def test_a_sentence_restating_one_part_ranks_first() -> None:
    assert _order(part_sentence_weight=1.0) == ["p", "q"]


def test_without_the_part_match_the_vaguer_sentence_wins() -> None:
    # The whole-question match alone prefers "q": this is what the part match corrects.
    assert _order(part_sentence_weight=0.0) == ["q", "p"]
