"""The FAISS index type follows the index size, is recorded in the manifest, and survives updates.

Real FAISS indexes written by `store.write_generation` with random unit vectors (no model needed): the
threshold is lowered so that a few hundred vectors already make an HNSW index.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rag import vector_index
from rag.store import Changes, load_index, write_generation
from rag.types import Article, Chunk
from rag.vector_index import FLAT, HNSW, AnnPolicy

DIM = 16
MODEL = "test/model"
POLICY = AnnPolicy(threshold=200, m=16, ef_construction=64, ef_search=64)


def _vectors(n: int, seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=(n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _batch(first_article: int, articles: int, per_article: int, first_chunk: int, seed: int) -> Changes:
    arts = [
        Article(f"a{i}", "Outlet", f"Title {i}", "2024-01-01", f"https://example.com/{i}", "x" * 40)
        for i in range(first_article, first_article + articles)
    ]
    chunks = [
        Chunk(a.id, 0, 40, "x" * 40, id=first_chunk + k * per_article + j)
        for k, a in enumerate(arts)
        for j in range(per_article)
    ]
    return Changes(add_articles=arts, add_chunks=chunks, add_vectors=_vectors(len(chunks), seed))


def _write(path: Path, changes: Changes, previous=None) -> dict:
    return write_generation(path, previous, changes, {"model": MODEL, "dimension": DIM}, POLICY)


def test_small_index_is_exact_and_says_so(tmp_path: Path) -> None:
    manifest = _write(tmp_path / "i", _batch(0, 10, 5, 0, seed=1))
    assert manifest["faiss_index"] == {"type": FLAT}
    assert vector_index.kind_of(load_index(tmp_path / "i", MODEL).faiss_index) == FLAT


def test_growing_past_the_threshold_switches_to_hnsw_keeping_every_vector(tmp_path: Path) -> None:
    first = _batch(0, 30, 5, 0, seed=1)  # 150 chunks: flat
    _write(tmp_path / "i", first)
    second = _batch(30, 20, 5, 150, seed=2)  # 250 in all: HNSW
    manifest = _write(tmp_path / "i", second, load_index(tmp_path / "i", MODEL))
    assert manifest["faiss_index"] == {"type": HNSW, "m": 16, "ef_construction": 64, "ef_search": 64}
    index = load_index(tmp_path / "i", MODEL)
    assert vector_index.kind_of(index.faiss_index) == HNSW
    ids, vecs = vector_index.vectors(index.faiss_index)
    expected = np.vstack([first.add_vectors, second.add_vectors])
    np.testing.assert_array_equal(vecs[np.argsort(ids)], expected)


def test_removing_from_hnsw_rebuilds_without_the_removed_chunks(tmp_path: Path) -> None:
    batch = _batch(0, 60, 5, 0, seed=3)  # 300 chunks: HNSW
    _write(tmp_path / "i", batch)
    previous = load_index(tmp_path / "i", MODEL)
    manifest = _write(tmp_path / "i", Changes(remove_articles=["a0", "a1"]), previous)
    assert manifest["chunks"] == 290 and manifest["faiss_index"]["type"] == HNSW
    index = load_index(tmp_path / "i", MODEL)
    ids, vecs = vector_index.vectors(index.faiss_index)
    assert set(ids.tolist()) == set(range(10, 300)) == set(index.chunks)
    np.testing.assert_array_equal(vecs[np.argsort(ids)], batch.add_vectors[10:])
    # each remaining vector is its own nearest neighbour: ids still point at the right vectors
    found, _ = vector_index.search(index.faiss_index, batch.add_vectors[10:20], 1)
    assert found[:, 0].tolist() == list(range(10, 20))


def test_shrinking_below_the_threshold_returns_to_exact(tmp_path: Path) -> None:
    _write(tmp_path / "i", _batch(0, 50, 5, 0, seed=4))  # 250: HNSW
    previous = load_index(tmp_path / "i", MODEL)
    manifest = _write(tmp_path / "i", Changes(remove_articles=[f"a{i}" for i in range(20)]), previous)
    assert manifest["faiss_index"] == {"type": FLAT} and manifest["chunks"] == 150


def test_hnsw_search_agrees_with_exact_search(tmp_path: Path) -> None:
    batch = _batch(0, 100, 5, 0, seed=5)
    _write(tmp_path / "i", batch)
    index = load_index(tmp_path / "i", MODEL).faiss_index
    queries = _vectors(20, seed=6)
    truth = np.argsort(-(queries @ batch.add_vectors.T), axis=1)[:, :10]
    got, scores = vector_index.search(index, queries, 10, ef_search=500)  # a beam this wide is exhaustive
    assert (got == truth).mean() > 0.95
    assert np.all(np.diff(scores, axis=1) <= 1e-6)  # best first


@pytest.mark.parametrize("allowed_count", [12, 400])  # exact path (few ids) and HNSW bitmap path (many)
def test_filtered_search_returns_only_allowed_chunks(tmp_path: Path, allowed_count: int) -> None:
    batch = _batch(0, 100, 5, 0, seed=7)
    _write(tmp_path / "i", batch)
    index = load_index(tmp_path / "i", MODEL).faiss_index
    allowed = np.arange(500)[::-1][:allowed_count]
    queries = _vectors(5, seed=8)
    got, scores = vector_index.search(index, queries, 10, allowed=allowed, exact_below=100)
    assert set(got.ravel().tolist()) <= set(allowed.tolist())
    exact = allowed[np.argsort(-(queries @ batch.add_vectors[allowed].T), axis=1)[:, :10]]
    assert (got == exact).mean() > 0.9
    assert np.isfinite(scores).all()


def test_a_filter_allowing_fewer_than_n_pads_with_minus_one(tmp_path: Path) -> None:
    _write(tmp_path / "i", _batch(0, 10, 5, 0, seed=9))
    index = load_index(tmp_path / "i", MODEL).faiss_index
    got, scores = vector_index.search(index, _vectors(1, seed=10), 5, allowed=np.array([3, 7]))
    assert sorted(got[0, :2].tolist()) == [3, 7] and got[0, 2:].tolist() == [-1, -1, -1]
    assert np.isneginf(scores[0, 2:]).all()


def test_policy_picks_the_type_by_size() -> None:
    policy = AnnPolicy(threshold=1000)
    assert policy.kind_for(999) == FLAT and policy.kind_for(1000) == HNSW
