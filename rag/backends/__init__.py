"""The storage/search seam: what the retriever and the indexer need from an index, and who provides it.

    Retriever (fusion, sub-searches, re-rank)      Indexer (diff, chunk, embed)
            │ dense_top, lexical_top, fetch,              │ hashes, max_chunk_id, apply(Changes)
            │ term stats, outlets, any_match              │
            ▼                                             ▼
      Backend ── "local": FAISS + SQLite + bm25s files in a generation folder (rag/backends/local.py)
              └─ "postgres": one PostgreSQL database with pgvector (rag/backends/postgres.py)

Everything that decides an answer (reciprocal-rank fusion, per-source and per-part sub-searches, the
re-rank) stays above this seam in `rag.retrieval`, so both backends answer the same way: a backend only
returns candidates (chunk ids, best first, ties by lower id) and the rows behind them.

A `Filter` is the outlet/date restriction of one (sub-)search. `None` means "everything"; an empty outlet
tuple means "nothing" (what the intersection of disjoint outlet filters leaves).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol, runtime_checkable

import numpy as np

from rag.boilerplate import Repeated
from rag.filters import in_date_range
from rag.sentence_vectors import SentenceVectors
from rag.types import ArticleRef, Chunk


@dataclass(frozen=True)
class Filter:
    """Outlets (casefolded; None: any) and an inclusive date range (ISO days; None: open)."""

    outlets: tuple[str, ...] | None = None
    since: str | None = None
    until: str | None = None

    @staticmethod
    def of(outlets: Sequence[str] = (), since: str | None = None, until: str | None = None) -> Filter | None:
        if not (outlets or since or until):
            return None
        folded = tuple(sorted({o.casefold() for o in outlets})) if outlets else None
        return Filter(folded, since or None, until or None)

    def matches(self, ref: ArticleRef) -> bool:
        if self.outlets is not None and ref.outlet.casefold() not in self.outlets:
            return False
        return in_date_range(ref.published, self.since, self.until)

    @property
    def empty(self) -> bool:
        """True when no article can match (outlet filters that do not meet)."""
        return self.outlets == ()


def intersect(a: Filter | None, b: Filter | None) -> Filter | None:
    """Chunks both filters allow (an article's date range must meet both ranges, as two masks `&`-ed would)."""
    if a is None:
        return b
    if b is None:
        return a
    if a.outlets is None:
        outlets = b.outlets
    elif b.outlets is None:
        outlets = a.outlets
    else:
        outlets = tuple(sorted(set(a.outlets) & set(b.outlets)))
    since = max((d for d in (a.since, b.since) if d), default=None)
    until = min((d for d in (a.until, b.until) if d), default=None)
    return Filter(outlets, since, until)


@dataclass
class ChunkRow:
    """A candidate chunk with what the re-rank and the answer need: its article's reference and its vector."""

    chunk: Chunk
    ref: ArticleRef
    vector: np.ndarray


@runtime_checkable
class Backend(Protocol):
    """What an index offers. Scores: inner product (dense) and BM25 (lexical), best first, ties by lower id."""

    name: str

    def session(self) -> AbstractContextManager:
        """Reads inside the block see one state of the index (a database snapshot; local: a no-op)."""
        ...

    # -- what is indexed ---------------------------------------------------------------------------
    @property
    def manifest(self) -> Mapping[str, Any]: ...

    @property
    def index(self) -> Any:
        """An `IndexData`-like view: `.manifest`, `.articles` and `.chunks` (mappings by id), `.refs`, `.path`."""
        ...

    def generation(self) -> str | None:
        """The generation currently committed at the source (cheap; for a reader deciding to reload)."""
        ...

    def chunk_count(self) -> int: ...

    def outlets(self) -> list[str]: ...

    def newest(self) -> date | None: ...

    def status(self) -> dict[str, Any]: ...

    # -- search ------------------------------------------------------------------------------------
    def any_match(self, flt: Filter | None) -> bool: ...

    def dense_top(self, qvec: np.ndarray, n: int, flt: Filter | None, memo: dict) -> list[tuple[int, float]]: ...

    def lexical_top(self, tokens: list[str], n: int, flt: Filter | None, memo: dict) -> list[tuple[int, float]]:
        """Chunks with BM25 score > 0 for `tokens` (repeats count), best first."""
        ...

    def candidates(
        self, qvec: np.ndarray, tokens: list[str], n: int, flt: Filter | None, memo: dict
    ) -> tuple[list[tuple[int, float]], list[tuple[int, float]]]:
        """`dense_top` and `lexical_top` of one search, in this session's snapshot (a backend may run both at once)."""
        ...

    def fetch(self, ids: Sequence[int]) -> dict[int, ChunkRow]: ...

    def article_chunks(self, article_ids: Sequence[str]) -> list[int]:
        """The ids of these articles' chunks, in id order (a conversation's focus: `SearchQuery.focus`)."""
        ...

    def sentences(self, chunk_ids: Sequence[int]) -> SentenceVectors | None:
        """The stored vectors of these chunks' sentences (`rag.sentence_vectors`); None: the index has none."""
        ...

    def repeated(self) -> Repeated | None:
        """The sentences repeated across articles, page furniture (`rag.boilerplate`); None: the index keeps none."""
        ...

    def term_stats(self, terms: Sequence[str]) -> dict[str, int]:
        """Document frequency of each term (0: unknown)."""
        ...

    def bm25_docs(self) -> int: ...

    def min_df(self) -> int: ...

    def chunk_ids(self, flt: Filter | None) -> list[int]:
        """Every chunk id a filter allows (tests, diagnostics)."""
        ...

    # -- writing -----------------------------------------------------------------------------------
    def hashes(self) -> Mapping[str, str]: ...

    def max_chunk_id(self) -> int: ...


#: name → factory(settings) returning a backend over the current index (raises `IndexProblem`).
_REGISTRY: dict[str, Callable[..., Backend]] = {}


def register(name: str, factory: Callable[..., Backend]) -> None:
    _REGISTRY[name] = factory


def names() -> list[str]:
    _load_builtin()
    return sorted(_REGISTRY)


def open_backend(settings: Any, index_dir: Any = None) -> Backend:
    """The backend `settings.backend` names, opened over the current index."""
    _load_builtin()
    name = getattr(settings, "backend", "local")
    try:
        factory = _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown backend '{name}': set RAG_BACKEND to one of {', '.join(names())}") from None
    return factory(settings, index_dir)


def _load_builtin() -> None:
    if "local" not in _REGISTRY:
        from rag.backends import local  # noqa: F401  (registers itself)
    if "postgres" not in _REGISTRY:
        from rag.backends import postgres  # noqa: F401  (psycopg is imported only when it is used)
