"""Side by side on MultiHop-RAG: the LangChain tutorial pipeline vs ours (torch and onnx-int8 backends).

    .venv/bin/python bench/compare_pipelines.py [--articles 609] [--queries 681] [--pipelines lc torch onnx-int8]

One run, one corpus, one model (all-MiniLM-L6-v2 from the bundled package):
  lc         what LangChain's RAG tutorial has a user write: `RecursiveCharacterTextSplitter(chunk_size=1000,
             chunk_overlap=200, add_start_index=True)` over the article bodies, `FAISS.from_documents`, and
             `similarity_search(question, k=10)`. The embeddings are a small `Embeddings` adapter over the same
             SentenceTransformer, written as `langchain_huggingface.HuggingFaceEmbeddings` does it (that
             package cannot be installed here without downgrading huggingface_hub).
  torch      ours: `update_index` (sentence-aware 1,000-character chunks with the title embedded, FAISS +
             SQLite), then `Pipeline.search_query` + `retrieve(k=10)` (hybrid dense + BM25, per-source
             sub-searches), and `Pipeline.ask` for the full answer.
  onnx-int8  the same with the locally exported int8 ONNX model (rag/onnx_backend.py).
Build time is measured from an empty folder with the model already loaded (the model load is printed apart).
Query latency is warm: each pipeline answers every question once after 5 warm-up questions. Hits@4, MRR@10
etc. are MultiHop-RAG's retrieval metrics (rag/multihop.py) on the top 10. For ours the answer metrics
(null-query refusals, false refusals, gold answer found) come from the same `Pipeline.ask` calls.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any

from benchlib import (
    MH_CORPUS,
    MH_QUERIES,
    WORK,
    fresh_dir,
    header,
    read_jsonl,
    save,
    summary_ms,
    wait_quiet,
    write_corpus,
)

from rag import multihop
from rag.config import Settings
from rag.embedding import get_embedder
from rag.indexer import update_index
from rag.pipeline import Pipeline

WARMUP = 5


class TutorialEmbeddings:
    """`langchain_huggingface.HuggingFaceEmbeddings` in miniature: lists of floats out of `model.encode`."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        texts = [t.replace("\n", " ") for t in texts]  # as HuggingFaceEmbeddings does
        return self.model.encode(texts, show_progress_bar=False).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


def _as_langchain_embeddings(model: Any):
    from langchain_core.embeddings import Embeddings

    class Adapter(TutorialEmbeddings, Embeddings):
        pass

    return Adapter(model)


def run_langchain(rows: list[dict[str, Any]], queries: list[dict[str, Any]]) -> dict[str, Any]:
    from langchain_community.vectorstores import FAISS
    from langchain_core.documents import Document
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    embeddings = _as_langchain_embeddings(get_embedder(backend="torch").model)  # the tutorial runs torch
    t0 = time.perf_counter()
    docs = [Document(page_content=r["body"], metadata={"source": r["url"], "title": r["title"]}) for r in rows]
    splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200, add_start_index=True)
    splits = splitter.split_documents(docs)
    store = FAISS.from_documents(splits, embeddings)
    build_s = time.perf_counter() - t0
    print(f"  lc: {len(splits)} chunks built in {build_s:.1f} s", flush=True)
    for q in queries[:WARMUP]:
        store.similarity_search(q["question"], k=multihop.K)
    times, scores = [], []
    for q in queries:
        t0 = time.perf_counter()
        found = store.similarity_search(q["question"], k=multihop.K)
        times.append(time.perf_counter() - t0)
        facts = [e["fact"] for e in q.get("evidence", [])]
        if facts:
            scores.append(multihop.score_retrieval(facts, [d.page_content for d in found]))
    lengths = [len(d.page_content) for d in splits]
    return {
        "chunks": len(splits),
        "chunk_chars_mean": round(statistics.fmean(lengths), 1),
        "build_s": round(build_s, 2),
        "retrieve": summary_ms(times),
        **_retrieval_means(scores),
    }


def _retrieval_means(scores: list[multihop.RetrievalScore]) -> dict[str, float]:
    return {
        name: round(statistics.fmean(getattr(s, name) for s in scores), 4) for name in multihop.RetrievalScore.__slots__
    }


def run_ours(backend: str, corpus: Path, queries: list[dict[str, Any]]) -> dict[str, Any]:
    settings = Settings(corpus_dir=corpus, index_dir=fresh_dir(WORK / f"mh-{backend}"), embed_backend=backend)
    t0 = time.perf_counter()
    get_embedder(settings.model, settings.embed_batch_size, backend, settings.cache_dir)
    load_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    summary = update_index(settings, progress=lambda stage, done, total: None)
    build_s = time.perf_counter() - t0
    print(f"  {backend}: {summary.chunks} chunks built in {build_s:.1f} s (model load {load_s:.1f} s)", flush=True)
    pipeline = Pipeline(settings)
    t0 = time.perf_counter()
    pipeline.retriever  # noqa: B018 - load the index and build BM25 before timing queries
    open_s = time.perf_counter() - t0
    for q in queries[:WARMUP]:
        pipeline.ask(q["question"])
    items = multihop.evaluate(pipeline, queries, answers=False)
    answer_times, refused, found = [], {}, []
    for q in queries:
        t0 = time.perf_counter()
        answer = pipeline.ask(q["question"])
        answer_times.append(time.perf_counter() - t0)
        refused.setdefault(q.get("type") == multihop.NULL_TYPE, []).append(float(answer.refused))
        gold = str(q.get("answer", ""))
        if q.get("type") != multihop.NULL_TYPE and gold and not multihop.is_yes_no(gold):
            found.append(float(multihop.answer_contains(gold, answer)))
    scores = [i.retrieval for i in items if i.retrieval is not None]
    stats = multihop.chunk_stats(pipeline)
    return {
        "chunks": summary.chunks,
        "chunk_chars_mean": stats["chunk_chars_mean"],
        "model_load_s": round(load_s, 2),
        "build_s": round(build_s, 2),
        "index_open_s": round(open_s, 2),
        "retrieve": summary_ms([i.retrieve_seconds for i in items]),
        "answer": summary_ms(answer_times),
        **_retrieval_means(scores),
        "null_refusal": round(statistics.fmean(refused.get(True, [0.0])), 4),
        "false_refusal": round(statistics.fmean(refused.get(False, [0.0])), 4),
        "answer_found": round(statistics.fmean(found), 4) if found else None,
        "index_dir": str(settings.index_dir),
    }


def print_table(results: dict[str, dict[str, Any]]) -> None:
    cols = [
        ("chunks", "chunks", "{:d}"),
        ("build_s", "build s", "{:.1f}"),
        ("retrieve.median_ms", "query p50 ms", "{:.1f}"),
        ("retrieve.p95_ms", "query p95 ms", "{:.1f}"),
        ("answer.median_ms", "answer p50 ms", "{:.1f}"),
        ("hits4", "Hits@4", "{:.3f}"),
        ("hits10", "Hits@10", "{:.3f}"),
        ("rr", "MRR@10", "{:.3f}"),
        ("all_facts", "AllFacts@10", "{:.3f}"),
    ]
    print("  " + f"{'pipeline':<11}" + "".join(f"{label:>14}" for _, label, _ in cols))
    for name, r in results.items():
        cells = []
        for key, _, fmt in cols:
            value: Any = r
            for part in key.split("."):
                value = value.get(part) if isinstance(value, dict) else None
            cells.append(f"{fmt.format(value) if value is not None else '-':>14}")
        print("  " + f"{name:<11}" + "".join(cells))


def ratios(results: dict[str, dict[str, Any]]) -> dict[str, dict[str, float]]:
    """For each of our pipelines: LangChain's figure / ours for times, ours - LangChain's for quality."""
    lc = results.get("lc")
    out: dict[str, dict[str, float]] = {}
    if not lc:
        return out
    for name, r in results.items():
        if name == "lc":
            continue
        out[name] = {
            "build_speedup": round(lc["build_s"] / r["build_s"], 2),
            "retrieve_latency_ratio": round(r["retrieve"]["median_ms"] / lc["retrieve"]["median_ms"], 2),
            "hits4_delta": round(r["hits4"] - lc["hits4"], 4),
            "mrr10_delta": round(r["rr"] - lc["rr"], 4),
            "hits4_ratio": round(r["hits4"] / lc["hits4"], 3) if lc["hits4"] else float("nan"),
            "mrr10_ratio": round(r["rr"] / lc["rr"], 3) if lc["rr"] else float("nan"),
        }
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=MH_CORPUS)
    ap.add_argument("--questions", type=Path, default=MH_QUERIES)
    ap.add_argument("--articles", type=int, default=0, help="first N articles only (default: all)")
    ap.add_argument("--queries", type=int, default=0, help="first N questions only (default: all)")
    ap.add_argument(
        "--pipelines", nargs="+", default=["lc", "torch", "onnx-int8"], choices=["lc", "torch", "onnx-int8"]
    )
    ap.add_argument("--wait-load", type=float, default=0.0, help="wait until the load average is below this")
    args = ap.parse_args(argv)

    wait_quiet(args.wait_load, 3600)
    info = header("compare_pipelines")
    rows = read_jsonl(args.corpus)
    rows = rows[: args.articles] if args.articles else rows
    queries = read_jsonl(args.questions)
    queries = queries[: args.queries] if args.queries else queries
    corpus = write_corpus(rows, WORK / "compare-corpus")
    print(f"  {len(rows)} articles, {len(queries)} questions", flush=True)
    results: dict[str, dict[str, Any]] = {}
    for name in args.pipelines:
        results[name] = run_langchain(rows, queries) if name == "lc" else run_ours(name, corpus, queries)
    print_table(results)
    for name, r in results.items():
        if name != "lc":
            print(
                f"  {name}: null refused {r['null_refusal']:.3f}, false refusals {r['false_refusal']:.3f}, "
                f"answer found {r['answer_found']}, answer p95 {r['answer']['p95_ms']:.1f} ms"
            )
    rat = ratios(results)
    for name, r in rat.items():
        print(
            f"  {name} vs lc: build {r['build_speedup']:.2f}x faster, "
            f"query latency x{r['retrieve_latency_ratio']:.2f}, "
            f"Hits@4 {r['hits4_delta']:+.3f} ({r['hits4_ratio']:.2f}x), MRR@10 {r['mrr10_delta']:+.3f} "
            f"({r['mrr10_ratio']:.2f}x)"
        )
    if "torch" in results and "onnx-int8" in results:
        delta = results["onnx-int8"]["hits4"] - results["torch"]["hits4"]
        print(f"  onnx-int8 vs torch: Hits@4 {delta * 100:+.1f} points (adoption needs > -1.0)")
    save(
        "compare_pipelines", info, {"articles": len(rows), "queries": len(queries), "pipelines": results, "ratios": rat}
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
