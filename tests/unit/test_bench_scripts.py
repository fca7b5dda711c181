"""Smoke tests of the benchmark scripts' own logic on tiny inputs (no model, no timing asserted)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from rag import vector_index
from rag.store import Changes, load_index, write_generation
from rag.types import Article, Chunk

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

import benchlib  # noqa: E402
import compare_pipelines  # noqa: E402
import run_all  # noqa: E402
import scale  # noqa: E402

DIM = 8


def _tiny_index(path: Path) -> None:
    arts = [Article(f"https://ex.com/{i}", f"Outlet {i % 3}", f"T{i}", f"2024-01-0{i % 9 + 1}",
                    f"https://ex.com/{i}", f"Body of article {i}. " * 5) for i in range(6)]  # fmt: skip
    chunks = [Chunk(a.id, 0, 20, a.body[:20], id=k * 2 + j) for k, a in enumerate(arts) for j in range(2)]
    vecs = np.random.default_rng(0).normal(size=(len(chunks), DIM)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    write_generation(path, None, Changes([], arts, chunks, vecs), {"model": "test/model", "dimension": DIM})


def test_synthetic_index_has_the_requested_size_and_new_vectors(tmp_path: Path, monkeypatch) -> None:
    _tiny_index(tmp_path / "real")
    monkeypatch.setenv("RAG_ANN_THRESHOLD", "30")
    built = scale.synthesise(tmp_path / "real", 40, tmp_path / "syn")
    assert built["chunks"] == 40 and built["faiss_index"]["type"] == vector_index.HNSW
    syn = load_index(tmp_path / "syn")
    assert len(syn.chunks) == 40 and len(syn.articles) == built["articles"] == 20
    assert all(syn.articles[c.article_id].body[c.start : c.end] == c.text for c in syn.chunks.values())
    ids, vecs = vector_index.vectors(syn.faiss_index)
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    real_ids, real_vecs = vector_index.vectors(load_index(tmp_path / "real").faiss_index)
    copy0 = vecs[np.argsort(ids)][:12]
    np.testing.assert_allclose(copy0, real_vecs[np.argsort(real_ids)], atol=1e-6)  # copy 0 keeps real vectors
    assert len({v.tobytes() for v in vecs}) == 40  # later copies are new vectors, not duplicates


def test_summary_marks_each_target(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(benchlib, "RESULTS", tmp_path)
    results = {
        "build_throughput": {
            "backends": {"torch": {"build_vs_raw": 0.95, "build_chunks_per_s": 30.0}},
            "onnx_speedup_raw": 1.2,
        },
        "incremental": {"backend": "torch", "share_of_full_build": 0.02},
    }
    for name, r in results.items():
        (tmp_path / f"{name}.json").write_text(json.dumps({"load_before": "0.5 0.5 0.5", "results": r}))
    rows = {r[0]: r for r in run_all.summary()}
    assert rows["build / raw encode (torch)"][2:4] == ("95.0%", "holds")
    assert rows["onnx-int8 speed-up (raw encode)"][2:4] == ("1.20x", "MISSED")
    assert rows["add one article (torch)"][2:4] == ("2.00%", "holds")
    assert rows["add one article (torch)"][4] == "0.5 0.5 0.5"


def test_ratios_compare_each_pipeline_with_langchain() -> None:
    lc = {"build_s": 100.0, "retrieve": {"median_ms": 20.0}, "hits4": 0.5, "rr": 0.4}
    ours = {"build_s": 50.0, "retrieve": {"median_ms": 10.0}, "hits4": 0.75, "rr": 0.6}
    r = compare_pipelines.ratios({"lc": lc, "torch": ours})["torch"]
    assert r["build_speedup"] == 2.0 and r["retrieve_latency_ratio"] == 0.5
    assert r["hits4_delta"] == 0.25 and r["hits4_ratio"] == 1.5 and r["mrr10_ratio"] == 1.5


def test_tutorial_embeddings_feed_langchain_faiss() -> None:
    pytest.importorskip("langchain_community", reason="the bench extra: pip install -e '.[bench]'")
    from langchain_community.vectorstores import FAISS

    class BagOfLetters:
        def encode(self, texts, show_progress_bar=False):
            out = np.array([[t.count(c) for c in "abcdefgh"] for t in texts], dtype=np.float32) + 1e-3
            return out / np.linalg.norm(out, axis=1, keepdims=True)

    embeddings = compare_pipelines._as_langchain_embeddings(BagOfLetters())
    store = FAISS.from_texts(["aaaa", "bbbb", "cccc\nc"], embeddings)
    assert [d.page_content for d in store.similarity_search("ccc", k=2)][0] == "cccc\nc"
