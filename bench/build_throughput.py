"""Index build throughput against the model's raw throughput on the same chunks, per embedding backend.

    .venv/bin/python bench/build_throughput.py [--articles 150] [--backends torch onnx-int8]

For each backend, in one process with the model already loaded (its load time is printed separately):
  raw     the model alone on exactly the texts the indexer embeds (title + chunk): for torch
          `SentenceTransformer.encode(texts, batch_size=32)`, the limit for this model on this CPU; for
          onnx-int8 the onnxruntime session over length-sorted batches of 32
  build   `rag.indexer.update_index` into an empty folder: read the corpus, chunk, embed (with a progress
          callback, as `rag index` does), write FAISS + SQLite + manifest
and prints chunks/s of each and build/raw (target ≥ 90%). The raw runs go before and after the build and are
averaged, so a drift in machine load hits both sides alike. The ONNX speed-up is raw torch time / raw onnx
time on the same texts (adoption needs ≥ 1.5x, and Hits@4 within a point: bench/compare_pipelines.py).
For onnx-int8 it also times length-sorted batches of 32, which the embedder does not use (one text per
run keeps each vector independent of its neighbours, see rag/embedding.py), to show what that choice costs.
A subset of the MultiHop-RAG corpus (the first N articles) keeps the run short; chunks/s does not depend on N.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from benchlib import MH_CORPUS, WORK, fresh_dir, header, read_jsonl, save, wait_quiet, write_corpus

from rag.chunking import chunk_article
from rag.config import Settings
from rag.embedding import get_embedder
from rag.indexer import embedding_text, update_index
from rag.ingest import read_corpus


def indexer_texts(settings: Settings) -> list[str]:
    """The texts `update_index` embeds for this corpus, in its order."""
    texts = []
    for art in read_corpus(settings.corpus_dir).articles:
        for c in chunk_article(art, settings.chunk_size, settings.chunk_overlap):
            texts.append(embedding_text(art, c, settings.embed_title))
    return texts


def raw_encode(embedder, texts: list[str], batch_size: int) -> float:
    t0 = time.perf_counter()
    if embedder.backend == "torch":
        embedder.model.encode(texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True)
    else:
        embedder._encode(texts, batch_size)
    return time.perf_counter() - t0


def run_backend(backend: str, corpus, batch_size: int) -> dict:
    settings = Settings(corpus_dir=corpus, index_dir=WORK / f"throughput-{backend}", embed_backend=backend)
    texts = indexer_texts(settings)
    t0 = time.perf_counter()
    embedder = get_embedder(settings.model, batch_size, backend, settings.cache_dir)
    load_s = time.perf_counter() - t0
    embedder.encode(texts[:64])  # warm-up: first-call allocations and thread pools
    raw1 = raw_encode(embedder, texts, batch_size)
    fresh_dir(settings.index_dir)
    t0 = time.perf_counter()
    summary = update_index(settings, progress=lambda stage, done, total: None)
    build_s = time.perf_counter() - t0
    raw2 = raw_encode(embedder, texts, batch_size)
    raw_s = (raw1 + raw2) / 2
    n = len(texts)
    batched = None
    if backend != "torch":  # what one text per run (the embedder's choice, see rag/embedding.py) costs
        order = sorted(range(n), key=lambda i: -len(texts[i]))
        t0 = time.perf_counter()
        for i in range(0, n, batch_size):
            embedder.model.encode([texts[j] for j in order[i : i + batch_size]])
        batched = n / (time.perf_counter() - t0)
        print(f"  {backend:<10} in length-sorted batches of {batch_size}: {batched:.1f} chunks/s", flush=True)
    assert summary.embedded_chunks == n, (summary.embedded_chunks, n)
    out = {
        "chunks": n,
        "model_load_s": round(load_s, 2),
        "raw_s": [round(raw1, 2), round(raw2, 2)],
        "raw_chunks_per_s": round(n / raw_s, 1),
        "build_s": round(build_s, 2),
        "build_chunks_per_s": round(n / build_s, 1),
        "build_vs_raw": round(raw_s / build_s, 3),
    }
    if batched is not None:
        out["raw_batched_chunks_per_s"] = round(batched, 1)
    print(
        f"  {backend:<10} {n} chunks  raw {n / raw_s:7.1f} chunks/s ({raw1:.1f}/{raw2:.1f} s)  "
        f"build {n / build_s:7.1f} chunks/s ({build_s:.1f} s)  build/raw {raw_s / build_s:.1%}  "
        f"(model load {load_s:.1f} s, not counted)",
        flush=True,
    )
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=MH_CORPUS)
    ap.add_argument("--articles", type=int, default=150, help="first N articles of the corpus (default 150)")
    ap.add_argument("--backends", nargs="+", default=["torch", "onnx-int8"], choices=["torch", "onnx-int8"])
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--wait-load", type=float, default=0.0, help="wait until the load average is below this")
    args = ap.parse_args(argv)

    wait_quiet(args.wait_load, 3600)
    info = header("build_throughput")
    rows = read_jsonl(args.corpus)[: args.articles]
    corpus = write_corpus(rows, WORK / "throughput-corpus")
    print(f"  corpus: first {len(rows)} articles of {args.corpus.name}")
    results = {"articles": len(rows), "backends": {}}
    for backend in args.backends:
        results["backends"][backend] = run_backend(backend, corpus, args.batch_size)
    b = results["backends"]
    if "torch" in b and "onnx-int8" in b:
        speedup_raw = b["onnx-int8"]["raw_chunks_per_s"] / b["torch"]["raw_chunks_per_s"]
        speedup_build = b["onnx-int8"]["build_chunks_per_s"] / b["torch"]["build_chunks_per_s"]
        results["onnx_speedup_raw"] = round(speedup_raw, 2)
        results["onnx_speedup_build"] = round(speedup_build, 2)
        print(f"  onnx-int8 vs torch: raw {speedup_raw:.2f}x, build {speedup_build:.2f}x (target >= 1.5x)")
    save("build_throughput", info, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
