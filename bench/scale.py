"""Scale: retrieval latency and recall of the approximate index at 200,000 chunks, and memory per 100,000.

    .venv/bin/python bench/scale.py [--chunks 200000] [--source-index DIR] [--n 200]

The 200,000-chunk index is synthetic, built from the real 609-article MultiHop-RAG index: its articles are
repeated (copy r gets the id/url suffix `#syn<r>`; outlets, dates, titles and bodies kept, so BM25 sees
realistic text and filters still work) until the chunk count is reached. Copy 0 keeps the real vectors; the
vectors of copy r ≥ 1 are normalise(x_i + 0.6 x_j + noise) for the chunk's own real vector x_i and the
vector x_j of a random other chunk, so they lie where real MiniLM vectors lie without duplicating them. The
index is written by `store.write_generation`, which picks the FAISS type by size (HNSW from
`Settings.ann_threshold` chunks), then measured in a fresh process:
  memory    resident memory after loading the index (FAISS + metadata) and after building the retriever
            (BM25 and per-chunk arrays), per 100,000 chunks; the same for the real index, for comparison
  latency   warm `search_query` + `retrieve(k=10)` for N MultiHop-RAG dev questions (median, p95), and its
            parts: query embedding, exact dense scoring of all vectors (what `rag/retrieval.py` does now),
            HNSW search (`rag.vector_index.search`), BM25 scoring
  recall    recall@10 of HNSW against exact search for the same query vectors, per efSearch
Target: retrieval under 50 ms (median and p95) at 200,000 chunks.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from benchlib import (
    CACHED_MH_INDEX,
    MH_QUERIES,
    WORK,
    fresh_dir,
    header,
    index_matches_code,
    read_jsonl,
    rss_mb,
    save,
    summary_ms,
    time_retrievals,
    wait_quiet,
)

from rag import vector_index
from rag.config import Settings
from rag.indexer import build_fields
from rag.store import Changes, load_index, write_generation
from rag.types import Article, Chunk

EF_SEARCH = (16, 32, 64, 128, 256)


def source_index(given: Path | None) -> Path:
    if given:
        return given
    for backend in (Settings().embed_backend, "onnx-int8", "torch"):
        if (WORK / f"mh-{backend}" / "manifest.json").is_file():
            return WORK / f"mh-{backend}"
    if index_matches_code(CACHED_MH_INDEX, Settings(embed_backend="torch")):
        return CACHED_MH_INDEX
    raise SystemExit("no 609-article index: run bench/compare_pipelines.py first, or pass --source-index")


def synthesise(source: Path, target: int, out: Path, seed: int = 0) -> dict:
    """Write a `target`-chunk index derived from `source` into `out`; returns build facts."""
    real = load_index(source)
    ids, vecs = vector_index.vectors(real.faiss_index)
    vec_of = {int(i): vecs[k] for k, i in enumerate(ids)}
    by_article: dict[str, list[Chunk]] = {}
    for c in sorted(real.chunks.values(), key=lambda c: c.id):
        by_article.setdefault(c.article_id, []).append(c)
    rng = np.random.default_rng(seed)
    pool = np.stack(list(vec_of.values()))
    articles, chunks, rows = [], [], []
    r = 0
    while len(chunks) < target:
        for art in real.articles.values():
            if len(chunks) >= target:
                break
            suffix = f"#syn{r}" if r else ""
            copy = Article(art.id + suffix, art.outlet, art.title, art.published, art.url + suffix, art.body, "syn")
            articles.append(copy)
            for c in by_article.get(art.id, []):
                v = vec_of[c.id]
                if r:
                    v = v + 0.6 * pool[rng.integers(len(pool))] + rng.normal(0, 0.02, v.shape)
                chunks.append(Chunk(copy.id, c.start, c.end, c.text, id=len(chunks)))
                rows.append(v / np.linalg.norm(v))
        r += 1
    vectors = np.asarray(rows, dtype=np.float32)
    settings = Settings(embed_backend=real.manifest.get("embed_backend", "torch"))
    fields = build_fields(settings, real.dimension)
    fresh_dir(out)
    t0 = time.perf_counter()
    manifest = write_generation(
        out, None, Changes(add_articles=articles, add_chunks=chunks, add_vectors=vectors), fields,
        vector_index.AnnPolicy.from_settings(settings),
    )  # fmt: skip
    write_s = time.perf_counter() - t0
    gen = out / manifest["generation"]
    return {
        "chunks": len(chunks),
        "articles": len(articles),
        "write_s": round(write_s, 1),
        "faiss_index": manifest["faiss_index"],
        "faiss_mb": round((gen / "index.faiss").stat().st_size / 2**20, 1),
        "sqlite_mb": round((gen / "meta.sqlite").stat().st_size / 2**20, 1),
    }


def measure(index_dir: Path, questions: list[str]) -> dict:
    """In a fresh process: memory by stage, warm latency and its parts, HNSW recall@10."""
    from rag.embedding import get_embedder
    from rag.pipeline import Pipeline
    from rag.retrieval import Retriever
    from rag.text.tokens import tokenize

    settings = Settings(index_dir=index_dir)
    manifest = json.loads((index_dir / "manifest.json").read_text())
    embedder = get_embedder(settings.model, settings.embed_batch_size, manifest.get("embed_backend", "torch"))
    embedder.encode_query("warm up")
    base = rss_mb()
    t0 = time.perf_counter()
    index = load_index(index_dir, settings.model)
    load_s = time.perf_counter() - t0
    after_load = rss_mb()
    pipeline = Pipeline(settings)
    t0 = time.perf_counter()
    retriever = Retriever(index, embedder, settings)
    retriever_s = time.perf_counter() - t0
    pipeline._retriever = retriever  # the index loaded above, not a second copy
    after_retriever = rss_mb()
    n = len(index.chunks)
    top_n = min(settings.candidates, n - 1)

    for q in questions[:5]:
        pipeline.retrieve(pipeline.search_query(q), k=10)
    # Whole retrievals first, in a loop of their own: the part timings below (a full exact scan of every
    # vector among them) would otherwise run between two retrievals and evict what they keep in CPU cache.
    total = time_retrievals(pipeline, questions)
    embed, exact, bm25 = [], [], []
    qvecs = []
    for q in questions:
        t0 = time.perf_counter()
        qv = embedder.encode_query(q)
        embed.append(time.perf_counter() - t0)
        qvecs.append(qv[0])
        t0 = time.perf_counter()
        cos = retriever.backend.vectors @ qv.T
        top = np.argpartition(-cos[:, 0], top_n)[:top_n]
        top[np.argsort(-cos[top, 0])]
        exact.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        tokens = tokenize([q])[0]
        if tokens:
            lex = retriever.backend.bm25.get_scores(tokens)
            np.argpartition(-lex, top_n)[:top_n]
        bm25.append(time.perf_counter() - t0)
    queries = np.asarray(qvecs, dtype=np.float32)
    ids, vecs = vector_index.vectors(index.faiss_index)
    truth = ids[np.argsort(-(queries @ vecs.T), axis=1)[:, :10]]
    ann = {}
    if vector_index.kind_of(index.faiss_index) == vector_index.HNSW:
        for ef in EF_SEARCH:
            times, recall = [], []
            for row, q in enumerate(queries):
                t0 = time.perf_counter()
                got, _ = vector_index.search(index.faiss_index, q, settings.candidates, ef_search=ef)
                times.append(time.perf_counter() - t0)
                recall.append(len(set(got[0, :10].tolist()) & set(truth[row].tolist())) / 10)
            ann[ef] = {"recall_at_10": round(float(np.mean(recall)), 4), **summary_ms(times)}
    return {
        "chunks": n,
        "faiss_index": manifest.get("faiss_index", {"type": "flat"}),
        "index_load_s": round(load_s, 2),
        "retriever_build_s": round(retriever_s, 2),
        "rss_base_mb": round(base, 1),
        "rss_index_mb": round(after_load - base, 1),
        "rss_retriever_mb": round(after_retriever - after_load, 1),
        "rss_index_per_100k_mb": round((after_load - base) / n * 1e5, 1),
        "rss_total_per_100k_mb": round((after_retriever - base) / n * 1e5, 1),
        "retrieve": summary_ms(total),
        "parts": {
            "query_embedding": summary_ms(embed),
            "dense_exact": summary_ms(exact),
            "bm25": summary_ms(bm25),
        },
        "hnsw": ann,
    }


def run_child(index_dir: Path, n: int) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--measure", str(index_dir), "--n", str(n)], capture_output=True, text=True
    )
    if out.returncode:
        raise SystemExit(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def report(name: str, m: dict) -> None:
    r = m["retrieve"]
    p = m["parts"]
    print(
        f"  {name}: {m['chunks']} chunks ({m['faiss_index']['type']}), load {m['index_load_s']} s + retriever "
        f"{m['retriever_build_s']} s; RSS index+metadata {m['rss_index_mb']} MB, retriever {m['rss_retriever_mb']} MB"
        f" -> {m['rss_index_per_100k_mb']} MB (index+metadata) / {m['rss_total_per_100k_mb']} MB (all) per 100k"
    )
    print(
        f"    retrieve p50 {r['median_ms']} ms p95 {r['p95_ms']} ms (target < 50 at 200k) | parts p50: query "
        f"embedding {p['query_embedding']['median_ms']} ms, exact dense {p['dense_exact']['median_ms']} ms, "
        f"BM25 {p['bm25']['median_ms']} ms"
    )
    for ef, h in m["hnsw"].items():
        print(
            f"    HNSW efSearch {ef:>4}: recall@10 {h['recall_at_10']:.3f}, "
            f"p50 {h['median_ms']} ms p95 {h['p95_ms']} ms"
        )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--chunks", type=int, default=200_000)
    ap.add_argument("--source-index", type=Path, help="the real 609-article index (default: the benchmark's)")
    ap.add_argument("--questions", type=Path, default=MH_QUERIES)
    ap.add_argument("--n", type=int, default=200, help="questions timed (default 200)")
    ap.add_argument("--measure", type=Path, help=argparse.SUPPRESS)  # internal: the fresh-process half
    ap.add_argument("--wait-load", type=float, default=0.0, help="wait until the load average is below this")
    args = ap.parse_args(argv)

    questions = [r["question"] for r in read_jsonl(args.questions)][: args.n]
    if args.measure:
        print(json.dumps(measure(args.measure, questions)))
        return 0
    wait_quiet(args.wait_load, 3600)
    info = header("scale")
    source = source_index(args.source_index)
    out = WORK / f"scale-{args.chunks}"
    built = synthesise(source, args.chunks, out)
    print(
        f"  synthetic index: {built['chunks']} chunks, {built['articles']} articles, {built['faiss_index']}, "
        f"written in {built['write_s']} s (FAISS {built['faiss_mb']} MB, SQLite {built['sqlite_mb']} MB)",
        flush=True,
    )
    real = run_child(source, args.n)
    report("real index", real)
    big = run_child(out, args.n)
    report("synthetic", big)
    save("scale", info, {"source": str(source), "synthetic_build": built, "real": real, "synthetic": big})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
