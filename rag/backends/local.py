"""The local backend: one loaded generation folder (FAISS vectors, SQLite metadata, bm25s files), in memory.

Dense search is exact (one matrix product) for a flat FAISS index and HNSW otherwise; filters are boolean
masks over the chunks (`rag.filters`). BM25 is the bm25s index saved in the generation folder as plain
`.npy`/`.json` files under the manifest's checksums (`store.write_generation`); an index written before
that, or one whose BM25 text setting (`bm25_outlet`) differs from the settings, is indexed in memory.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import bm25s
import numpy as np

from rag import vector_index
from rag.backends import ChunkRow, Filter, register
from rag.boilerplate import Repeated
from rag.filters import ChunkFilters
from rag.lexical import bm25_document
from rag.sentence_vectors import SentenceVectors
from rag.store import BM25_DIR, IndexData, Manifest, load_index
from rag.text.tokens import tokenize

#: The bm25s files of a generation (inside `BM25_DIR`); all are plain numpy arrays or JSON.
BM25_FILES = (
    "data.csc.index.npy",
    "indices.csc.index.npy",
    "indptr.csc.index.npy",
    "vocab.index.json",
    "params.index.json",
)


def build_bm25(index: IndexData, ids: np.ndarray, with_outlet: bool) -> bm25s.BM25:
    """A bm25s index over the chunks `ids` (in that order) of `index`."""
    bm25 = bm25s.BM25()
    if len(ids):
        chunks = [index.chunks[int(c)] for c in ids]
        docs = [bm25_document(index.refs[c.article_id], c, with_outlet) for c in chunks]
        bm25.index(tokenize(docs), show_progress=False)
    return bm25


def save_bm25(bm25: bm25s.BM25, folder: Path) -> list[str]:
    """Save as plain files (never pickled); returns their names relative to the generation folder."""
    if not hasattr(bm25, "scores"):  # nothing indexed: a reader builds the (empty) index itself
        return []
    bm25.save(str(folder), allow_pickle=False, show_progress=False)
    return [f"{BM25_DIR}/{name}" for name in BM25_FILES]


def _load_bm25(index: IndexData, with_outlet: bool) -> bm25s.BM25 | None:
    """The generation's saved bm25s index (files already checksummed by `load_index`), or None."""
    info = index.manifest.get("bm25")
    if not isinstance(info, dict) or bool(info.get("outlet")) != with_outlet:
        return None
    folder = Path(index.path) / str(index.manifest.get("generation", "")) / BM25_DIR
    if not all((folder / name).is_file() for name in BM25_FILES):
        return None
    bm25 = bm25s.BM25.load(str(folder), allow_pickle=False, show_progress=False)
    if int(bm25.scores.get("num_docs", -1)) != len(index.chunks):
        return None
    return bm25


class LocalBackend:
    """Search over one `IndexData` in memory."""

    name = "local"

    def __init__(self, index: IndexData, with_outlet: bool = True) -> None:
        self._index = index
        self.ids = np.fromiter(sorted(index.chunks), dtype=np.int64, count=len(index.chunks))
        self.pos = {int(cid): i for i, cid in enumerate(self.ids)}
        n = len(self.ids)
        chunks = [index.chunks[int(cid)] for cid in self.ids]
        self.filters = ChunkFilters(chunks, index.refs)
        faiss_ids, vectors = vector_index.vectors(index.faiss_index)
        order = np.argsort(faiss_ids)  # faiss row → position in self.ids (both sorted by chunk id)
        self.vectors = vectors[order] if len(order) and not np.array_equal(order, np.arange(n)) else vectors
        if len(self.vectors) != n:  # an index without vectors (unit tests' in-memory index): cosines are 0
            self.vectors = np.zeros((n, index.faiss_index.d), dtype=np.float32)
        # Exact dense scoring (one matrix product) for a flat index; an HNSW index is searched approximately.
        self._exact = vector_index.kind_of(index.faiss_index) == vector_index.FLAT
        loaded = _load_bm25(index, with_outlet)
        self.bm25 = loaded if loaded is not None else build_bm25(index, self.ids, with_outlet)
        df = np.diff(self.bm25.scores["indptr"]) if n else np.zeros(0, dtype=np.int64)
        self._df = {term: int(df[tid]) for term, tid in self.bm25.vocab_dict.items() if term and tid < len(df)}
        self._df = {t: d for t, d in self._df.items() if d > 0}
        self._by_article: dict[str, list[int]] | None = None  # article id → its chunk ids, built on first use

    def session(self) -> contextlib.AbstractContextManager:
        """Nothing to open: a loaded generation never changes under a reader."""
        return contextlib.nullcontext()

    # -- what is indexed ---------------------------------------------------------------------------
    @property
    def manifest(self) -> Manifest:
        return self._index.manifest

    @property
    def index(self) -> IndexData:
        return self._index

    def generation(self) -> str | None:
        return self._index.manifest.get("generation")

    def chunk_count(self) -> int:
        return len(self.ids)

    def outlets(self) -> list[str]:
        return self.filters.outlets

    def newest(self) -> date | None:
        return self.filters.newest

    def status(self) -> dict[str, Any]:
        return {"backend": self.name, "path": str(self._index.path), "chunks": len(self.ids)}

    # -- filters -----------------------------------------------------------------------------------
    def mask(self, flt: Filter | None) -> np.ndarray | None:
        if flt is None:
            return None
        if flt.empty:
            return np.zeros(len(self.ids), dtype=bool)
        return self.filters.mask(flt.outlets or (), flt.since, flt.until)

    def any_match(self, flt: Filter | None) -> bool:
        if flt is None:
            return len(self.ids) > 0
        m = self.mask(flt)
        return bool(m.any()) if m is not None else len(self.ids) > 0

    def chunk_ids(self, flt: Filter | None) -> list[int]:
        m = self.mask(flt)
        return self.ids.tolist() if m is None else self.ids[m].tolist()

    # -- search ------------------------------------------------------------------------------------
    def dense_top(self, qvec: np.ndarray, n: int, flt: Filter | None, memo: dict) -> list[tuple[int, float]]:
        mask = self.mask(flt)
        allowed = np.flatnonzero(mask) if mask is not None else None
        key = ("sims", qvec.tobytes())
        if self._exact:
            sims = memo.get(key)
            if sims is None:
                sims = memo[key] = self.vectors @ qvec
            positions = np.arange(len(sims)) if allowed is None else allowed
            return self._pairs(_best(positions, sims[positions], n), sims)
        if allowed is not None and len(allowed) < vector_index.EXACT_BELOW:
            # A narrow filter (one outlet, a date range) is scored exactly from the vectors, as
            # `vector_index.search` would, without mapping ids back and forth.
            scores = self.vectors[allowed] @ qvec
            order = _best(np.arange(len(allowed)), scores, n)
            return [(int(self.ids[allowed[i]]), float(scores[i])) for i in order]
        ids, scores = vector_index.search(
            self._index.faiss_index, qvec[None, :], n, allowed=None if allowed is None else self.ids[allowed]
        )
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]

    def candidates(
        self, qvec: np.ndarray, tokens: list[str], n: int, flt: Filter | None, memo: dict
    ) -> tuple[list[tuple[int, float]], list[tuple[int, float]]]:
        # One after the other: both are in-process numpy/FAISS work on the same cores.
        return self.dense_top(qvec, n, flt, memo), self.lexical_top(tokens, n, flt, memo)

    def lexical_top(self, tokens: list[str], n: int, flt: Filter | None, memo: dict) -> list[tuple[int, float]]:
        if not tokens:
            return []
        key = ("lex", tuple(tokens))
        scores = memo.get(key)
        if scores is None:
            scores = memo[key] = self.bm25.get_scores(tokens)
        # Only chunks holding a query term score above 0: rank those alone (a few thousand of 200,000).
        hit = scores > 0
        mask = self.mask(flt)
        if mask is not None:
            hit &= mask
        nonzero = np.flatnonzero(hit)
        return self._pairs(_best(nonzero, scores[nonzero], n), scores)

    def _pairs(self, positions: np.ndarray, scores: np.ndarray) -> list[tuple[int, float]]:
        return [(int(self.ids[p]), float(scores[p])) for p in positions.tolist()]

    def fetch(self, ids: Sequence[int]) -> dict[int, ChunkRow]:
        out = {}
        for cid in ids:
            chunk = self._index.chunks[int(cid)]
            out[int(cid)] = ChunkRow(chunk, self._index.refs[chunk.article_id], self.vectors[self.pos[int(cid)]])
        return out

    def article_chunks(self, article_ids: Sequence[str]) -> list[int]:
        if self._by_article is None:
            by: dict[str, list[int]] = {}
            for cid in self.ids.tolist():
                by.setdefault(self._index.chunks[cid].article_id, []).append(cid)
            self._by_article = by
        return sorted(c for a in dict.fromkeys(article_ids) for c in self._by_article.get(a, []))

    def sentences(self, chunk_ids: Sequence[int]) -> SentenceVectors | None:
        return self._index.sentences

    def repeated(self) -> Repeated | None:
        return self._index.repeated

    def term_stats(self, terms: Sequence[str]) -> dict[str, int]:
        return {t: self._df.get(t, 0) for t in terms}

    def bm25_docs(self) -> int:
        return len(self.ids)

    def min_df(self) -> int:
        return min(self._df.values(), default=0)

    # -- writing -----------------------------------------------------------------------------------
    def hashes(self) -> Mapping[str, str]:
        return self._index.hashes

    def max_chunk_id(self) -> int:
        return int(self.ids[-1]) if len(self.ids) else -1


def _best(positions: np.ndarray, scores: np.ndarray, n: int) -> np.ndarray:
    """The `n` of `positions` with the highest `scores`, best first (ties: lower position first)."""
    n = min(n, len(scores))
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    top = np.argpartition(-scores, n - 1)[:n] if n < len(scores) else np.arange(len(scores))
    top = top[np.lexsort((positions[top], -scores[top]))]
    return positions[top].astype(np.int64, copy=False)


def open_local(settings: Any, index_dir: Any = None) -> LocalBackend:
    index = load_index(Path(index_dir or settings.index_dir), settings.model, verify=settings.verify_checksums)
    return LocalBackend(index, settings.bm25_outlet)


register("local", open_local)
