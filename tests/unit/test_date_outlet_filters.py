"""Filters: date ranges at day, month and year precision, undated articles, and outlet masks over chunks."""

from __future__ import annotations

import pytest

from rag.filters import in_date_range
from rag.retrieval import Retriever
from rag.types import Article, SearchQuery

from .helpers import memory_retriever


@pytest.mark.parametrize(
    ("published", "since", "until", "expected"),
    [
        # No filter: everything passes, undated too.
        ("2024-05-02", None, None, True),
        ("", None, None, True),
        # Day precision, bounds inclusive.
        ("2024-05-02", "2024-05-02", None, True),
        ("2024-05-02", None, "2024-05-02", True),
        ("2024-05-02", "2024-05-03", None, False),
        ("2024-05-02", None, "2024-05-01", False),
        ("2024-05-02", "2024-05-01", "2024-05-31", True),
        # Month precision: the article could fall on any day of its month.
        ("2025-09", "2025-09-15", None, True),
        ("2025-09", None, "2025-09-01", True),
        ("2025-09", "2025-10-01", None, False),
        ("2025-09", None, "2025-08-31", False),
        ("2024-02", "2024-02-29", "2024-02-29", True),  # leap-year month end
        ("2023-02", "2023-02-29", None, False),  # 2023-02 ends on the 28th
        # Year precision.
        ("2024", "2024-12-31", None, True),
        ("2024", None, "2024-01-01", True),
        ("2024", "2025-01-01", None, False),
        # Undated articles cannot satisfy a date filter.
        ("", "2000-01-01", None, False),
        ("", None, "2100-01-01", False),
    ],
)
def test_in_date_range(published: str, since: str | None, until: str | None, expected: bool) -> None:
    assert in_date_range(published, since, until) is expected


ARTICLES = [
    Article("a", "Reuters", "Talks resume", "2024-05-02", "", "Negotiators met in Geneva on Thursday. " * 40),
    Article("b", "Al Jazeera", "Talks stall", "2024-06", "", "Negotiators left Geneva without a deal. " * 40),
    Article("c", "Unknown outlet", "Undated note", "", "", "A note about Geneva talks without any date. " * 3),
]


@pytest.fixture(scope="module")
def retriever() -> Retriever:
    """A real Retriever over an in-memory index; no model is needed for filters (embedder unused)."""
    return memory_retriever(ARTICLES, size=300, overlap=60)


def _allowed_articles(retriever: Retriever, **filters: object) -> set[str] | None:
    flt = retriever.filter_for(SearchQuery(text="geneva", **filters))  # type: ignore[arg-type]
    if flt is None:
        return None
    ids = retriever.backend.chunk_ids(flt)
    allowed = {retriever.index.chunks[cid].article_id for cid in ids}
    # The mask is all-or-nothing per article: every chunk of an allowed article is allowed.
    for aid in allowed:
        assert set(retriever.index.chunk_ids_for(aid)) <= set(ids)
    return allowed


def test_no_filter_means_no_mask(retriever: Retriever) -> None:
    assert _allowed_articles(retriever) is None


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"outlets": ["Reuters"]}, {"a"}),
        ({"outlets": ["al jazeera"]}, {"b"}),  # outlet names match case-insensitively
        ({"outlets": ["Reuters", "Al Jazeera"]}, {"a", "b"}),
        ({"outlets": ["Nobody"]}, set()),
        ({"since": "2024-06-01"}, {"b"}),
        ({"until": "2024-05-31"}, {"a"}),
        ({"since": "2024-06-30", "until": "2024-06-30"}, {"b"}),
        ({"outlets": ["Reuters"], "since": "2024-06-01"}, set()),
        ({"since": "1900-01-01"}, {"a", "b"}),  # the undated article drops out of any date filter
    ],
)
def test_allowed_mask(retriever: Retriever, filters: dict[str, object], expected: set[str]) -> None:
    assert _allowed_articles(retriever, **filters) == expected


def test_search_with_an_empty_filter_returns_nothing(retriever: Retriever) -> None:
    """Nothing passes the filter: no hits, and the (absent) model is never asked to embed."""
    assert retriever.search(SearchQuery(text="geneva", outlets=["Nobody"])) == []
