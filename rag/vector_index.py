"""The FAISS index type, chosen by size, and dense search over it (exact or approximate, filtered or not).

Below `AnnPolicy.threshold` vectors the index is exact (`IndexFlatIP`): a query reads every vector, which is
cheap at that size and loses nothing. From the threshold on it is HNSW (`IndexHNSWFlat`, inner product): a
query visits a few thousand vectors whatever the size, at a small recall cost (measured against exact search
in docs/benchmarks.md, "Scale"). Both sit inside an `IndexIDMap2`, so FAISS ids are chunk ids and vectors
can be reconstructed by id. HNSW cannot delete, so a write that removes vectors from it rebuilds the graph
from the vectors kept (seconds per 100,000 chunks, far less than re-embedding them).

The manifest records the type (`faiss_index`), so a reader knows what it loads without opening it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Literal

import faiss
import numpy as np

#: The FAISS index kinds (the manifest's `faiss_index.type`).
IndexKind = Literal["flat", "hnsw"]
FLAT: Final = "flat"
HNSW: Final = "hnsw"


@dataclass(frozen=True)
class AnnPolicy:
    """When to switch from exact to HNSW search, and the HNSW parameters (defaults as in `Settings`)."""

    threshold: int = 50_000
    m: int = 32
    ef_construction: int = 80
    ef_search: int = 128

    def kind_for(self, n: int) -> IndexKind:
        return HNSW if n >= self.threshold else FLAT

    @classmethod
    def from_settings(cls, settings: Any) -> AnnPolicy:
        return cls(settings.ann_threshold, settings.hnsw_m, settings.hnsw_ef_construction, settings.hnsw_ef_search)


def new_index(dimension: int, kind: IndexKind = FLAT, policy: AnnPolicy | None = None) -> faiss.Index:
    """An empty index of `kind` over inner-product vectors, with our own int64 ids."""
    if kind == FLAT:
        return faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))
    if kind != HNSW:
        raise ValueError(f"unknown FAISS index kind '{kind}'")
    policy = policy or AnnPolicy()
    inner = faiss.IndexHNSWFlat(dimension, policy.m, faiss.METRIC_INNER_PRODUCT)
    inner.hnsw.efConstruction = policy.ef_construction
    inner.hnsw.efSearch = policy.ef_search  # saved with the index: a plain `search` uses it
    return faiss.IndexIDMap2(inner)


def _hnsw(index: faiss.Index) -> faiss.IndexHNSW | None:
    """The HNSW index inside `index` (an IDMap over it, or itself), or None when it is not one."""
    inner = faiss.downcast_index(index.index) if isinstance(index, faiss.IndexIDMap) else faiss.downcast_index(index)
    return inner if isinstance(inner, faiss.IndexHNSW) else None


def kind_of(index: faiss.Index) -> IndexKind:
    return HNSW if _hnsw(index) is not None else FLAT


def describe(index: faiss.Index) -> dict[str, Any]:
    """The manifest's `faiss_index` entry: the type and, for HNSW, its parameters."""
    inner = _hnsw(index)
    if inner is None:
        return {"type": FLAT}
    hnsw = inner.hnsw
    return {
        "type": HNSW,
        "m": int(hnsw.nb_neighbors(1)),  # type: ignore[attr-defined]  # missing from faiss' stub
        "ef_construction": hnsw.efConstruction,
        "ef_search": hnsw.efSearch,
    }


def vectors(index: faiss.Index) -> tuple[np.ndarray, np.ndarray]:
    """(ids, vectors) of an IDMap over a flat or HNSW-flat index; the vectors a zero-copy view (read-only use),
    which keeps the index alive."""
    assert isinstance(index, faiss.IndexIDMap), "every index here is an IDMap (see new_index)"
    ids = faiss.vector_to_array(index.id_map).astype(np.int64)
    inner = faiss.downcast_index(index.index)
    if isinstance(inner, faiss.IndexHNSW):
        inner = faiss.downcast_index(inner.storage)
    if isinstance(inner, faiss.IndexFlat) and inner.ntotal:
        view = faiss.rev_swig_ptr(inner.get_xb(), inner.ntotal * inner.d).reshape(inner.ntotal, inner.d).view(_View)
        view.owner = index  # the memory belongs to the FAISS index: keep it alive as long as any view of it
        return ids, view
    if not len(ids):
        return ids, np.zeros((0, index.d), dtype=np.float32)
    return ids, np.vstack([index.reconstruct(int(i)) for i in ids])


class _View(np.ndarray):
    """A numpy view of memory owned by a FAISS index, holding a reference to that index."""

    owner: Any = None


def rebuilt(index: faiss.Index, kind: IndexKind, policy: AnnPolicy, drop: np.ndarray | None = None) -> faiss.Index:
    """A new index of `kind` holding the vectors of `index` except the ids in `drop`."""
    ids, vecs = vectors(index)
    if drop is not None and len(drop):
        keep = ~np.isin(ids, drop)
        ids, vecs = ids[keep], vecs[keep]
    out = new_index(index.d, kind, policy)
    if len(ids):
        out.add_with_ids(np.ascontiguousarray(vecs), ids)
    return out


def apply_changes(
    previous: faiss.Index | None,
    dimension: int,
    remove_ids: np.ndarray,
    add_ids: np.ndarray,
    add_vectors: np.ndarray | None,
    policy: AnnPolicy,
) -> faiss.Index:
    """`previous` minus `remove_ids` plus the new vectors, as the type the resulting size calls for."""
    n_after = (previous.ntotal if previous is not None else 0) - len(remove_ids) + len(add_ids)
    kind = policy.kind_for(n_after)
    if previous is None:
        index = new_index(dimension, kind, policy)
    elif kind_of(previous) == kind and (kind == FLAT or not len(remove_ids)):
        index = faiss.clone_index(previous)
        if len(remove_ids):
            # faiss' Python wrapper takes an array of ids as well as an IDSelector; its stub has only the latter.
            index.remove_ids(remove_ids)  # type: ignore[arg-type]
    else:  # the type changes, or vectors leave an HNSW graph (which cannot delete): build it anew
        index = rebuilt(previous, kind, policy, remove_ids)
    if len(add_ids):
        assert add_vectors is not None and len(add_vectors) == len(add_ids)
        index.add_with_ids(np.ascontiguousarray(add_vectors, dtype=np.float32), add_ids)
    return index


#: A filtered search over fewer allowed chunks than this scores them exactly instead of walking the HNSW graph.
EXACT_BELOW = 20_000


def search(
    index: faiss.Index,
    queries: np.ndarray,
    n: int,
    allowed: np.ndarray | None = None,
    ef_search: int | None = None,
    exact_below: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The `n` nearest chunk ids per query row and their inner products (ids -1 / score -inf pad short rows).

    `allowed` is an optional array of chunk ids to search within. When it holds fewer than `exact_below` ids
    those vectors are scored exactly (fast at that size, and HNSW with a very selective filter must walk most
    of its graph to find enough allowed nodes); otherwise HNSW searches with a bitmap filter. `ef_search`
    overrides the index's own beam width for this call (it is raised to `n` if smaller).
    """
    queries = np.ascontiguousarray(queries, dtype=np.float32).reshape(-1, index.d)
    if allowed is not None and len(allowed) < (EXACT_BELOW if exact_below is None else exact_below):
        return _exact_subset(index, queries, n, np.asarray(allowed, dtype=np.int64))
    params = None
    if (inner := _hnsw(index)) is not None:
        beam = max(ef_search or inner.hnsw.efSearch, n)
        params = faiss.SearchParametersHNSW(efSearch=beam)  # type: ignore[attr-defined]  # missing from the stub
    if allowed is not None:
        allowed = np.asarray(allowed, dtype=np.int64)
        bits = np.zeros(int(allowed.max(initial=0)) + 1, dtype=bool)
        bits[allowed] = True
        packed = np.packbits(bits, bitorder="little")
        selector = faiss.IDSelectorBitmap(bits.size, faiss.swig_ptr(packed))
        params = params or faiss.SearchParameters()
        params.sel = selector
        scores, ids = index.search(queries, n, params=params)
        del packed  # kept alive until the search has used the bitmap
    else:
        scores, ids = index.search(queries, n, params=params)
    scores[ids < 0] = -np.inf
    return ids, scores


def _exact_subset(
    index: faiss.Index, queries: np.ndarray, n: int, allowed: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    ids, vecs = vectors(index)
    pos = np.flatnonzero(np.isin(ids, allowed))
    out_ids = np.full((len(queries), n), -1, dtype=np.int64)
    out_scores = np.full((len(queries), n), -np.inf, dtype=np.float32)
    if not len(pos):
        return out_ids, out_scores
    sims = queries @ vecs[pos].T  # (queries, allowed)
    m = min(n, len(pos))
    top = np.argpartition(-sims, m - 1, axis=1)[:, :m]
    for r in range(len(queries)):
        order = top[r][np.argsort(-sims[r, top[r]], kind="stable")]
        out_ids[r, :m] = ids[pos[order]]
        out_scores[r, :m] = sims[r, order]
    return out_ids, out_scores
