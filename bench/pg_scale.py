"""PostgreSQL backend at scale: synthetic chunks, filtered hybrid top-10 latency, HNSW recall, build time, disk.

    .venv/bin/python bench/pg_scale.py --chunks 1000000        # docs/scaling.md; needs the cluster extra

Synthetic corpus: articles of 10 chunks, 50 outlets, dates over two years, ~100 words per chunk drawn from
a Zipf law over 30,000 made-up words (so BM25 has frequent and rare terms), 384-dimensional unit vectors
around 2,000 random centres (so nearest neighbours are meaningful). The index is written by the backend's
own `PostgresBackend.apply` (one transaction: COPY of articles, chunks with vectors, the term blocks, document
frequencies, the HNSW index), on a server this script starts (rag/pgserver.py) and stops.

Per query, what one retrieval asks of the backend: dense top-60 and BM25 top-60 within the filter, at once in
one snapshot (`PostgresBackend.candidates`), then the rows of the fused top 40 (`fetch`) — the reciprocal-rank
fusion in between is Python. Each part is then timed alone too (dense, BM25), outside the search's time.
Filters: none, one outlet (2% of chunks), a 60-day window, and outlet + window, a quarter of the queries each.
Recall@10 is the dense top-10 against exact inner-product search over the same filtered chunks (numpy).
Also printed: the dense and BM25 parts apart (BM25 per filter kind too) and the 1-minute load average when the
queries start and end (the machine is shared: quote it with every timing).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rag.backends import Filter  # noqa: E402
from rag.store import Changes  # noqa: E402
from rag.types import Article, Chunk  # noqa: E402

DIM = 384
PER_ARTICLE = 10
OUTLETS = [f"Outlet {i:02d}" for i in range(50)]
VOCAB = 30_000


def corpus(n_chunks: int, seed: int = 0, texts: bool = True):  # noqa: ANN201
    """The synthetic corpus; without `texts` only the vectors, filter columns and generator state (the same
    ones: the texts take nothing from the generator), for a run that reuses a built index."""
    rng = np.random.default_rng(seed)
    words = np.array([f"w{i}x" for i in range(VOCAB)])
    n_articles = n_chunks // PER_ARTICLE
    # Zipf over the words after the ~100 most frequent (the stop words a tokenizer drops), as in news text.
    ranks = (rng.zipf(1.07, size=n_chunks * 100) + 100) % VOCAB
    centres = rng.standard_normal((2000, DIM)).astype(np.float32)
    articles, chunks = [], []
    days = np.datetime64("2024-01-01") + rng.integers(0, 730, n_articles)
    outlets = rng.integers(0, len(OUTLETS), n_articles)
    which = rng.integers(0, len(centres), n_chunks)
    vecs = centres[which] + 0.8 * rng.standard_normal((n_chunks, DIM)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    cid = 0
    for a in range(n_articles if texts else 0):
        parts, spans, pos = [], [], 0
        for _ in range(PER_ARTICLE):
            text = " ".join(words[ranks[cid * 100 : cid * 100 + 100]])
            spans.append((pos, pos + len(text)))
            parts.append(text)
            pos += len(text) + 1
            cid += 1
        body = " ".join(parts)
        aid = f"https://synthetic.example/{a}"
        articles.append(Article(aid, OUTLETS[outlets[a]], f"Article {a}", str(days[a]), aid, body, "synthetic"))
        base = a * PER_ARTICLE
        chunks.extend(Chunk(aid, s, e, body[s:e], id=base + i) for i, (s, e) in enumerate(spans))
    meta = {"outlet": outlets.repeat(PER_ARTICLE), "day": days.repeat(PER_ARTICLE)}
    return articles, chunks, vecs, meta, (rng, centres, words, ranks)


def _every_posting(backend, tokens: list[str], n: int, keep: np.ndarray) -> list[tuple[int, float]]:  # noqa: ANN001
    """BM25 top n of every chunk holding a query term that `keep` (a mask over chunk ids, made here from the
    generator's own outlets and days, not from the blocks' filter columns) allows: each term's stored postings
    decoded, its part in float64 rounded to float32 and summed in float32 over the query's tokens in order."""
    from rag.backends.pg_blocks import BLOCK_BITS, _columns
    from rag.lexical import K1, B

    n_docs, total = backend._rows("SELECT n_docs, total_len FROM rag_stats WHERE id = 1")[0]
    avgdl = float(total) / int(n_docs)
    df = dict(backend._rows("SELECT term, df FROM rag_terms WHERE term = ANY(%s)", [sorted(set(tokens))]))
    score = np.zeros(len(keep), dtype=np.float32)
    held = np.zeros(len(keep), dtype=bool)
    parts = {}
    for term in df:
        ids, tf, length = [], [], []
        for block, data in backend._rows(
            "SELECT block, data FROM rag_term_blocks WHERE term = %s", [term], binary=True
        ):
            low, t, ln = _columns(bytes(data))
            ids.append((int(block) << BLOCK_BITS) + low.astype(np.int64))
            tf.append(t.astype(np.float64))
            length.append(ln.astype(np.float64))
        i, t, ln = np.concatenate(ids), np.concatenate(tf), np.concatenate(length)
        idf = np.log(1 + (float(n_docs) - df[term] + 0.5) / (df[term] + 0.5))
        parts[term] = (i, (idf * t / (t + K1 * ((1 - B) + B * ln / avgdl))).astype(np.float32))
    for token in tokens:
        if token in parts:
            i, part = parts[token]
            score[i] += part
            held[i] = True
    found = np.flatnonzero(held & keep)
    order = sorted(found.tolist(), key=lambda c: (-score[c], c))[:n]
    return [(c, float(str(score[c]))) for c in order]


KINDS = ["none", "outlet", "window", "outlet+window"]


def _query(rng, qi: int, centres: np.ndarray, ranks: np.ndarray):  # noqa: ANN001, ANN202
    """The qi-th query: (filter kind, vector, BM25 tokens, outlet number, window start, filter)."""
    kind = KINDS[qi % 4]
    q = centres[rng.integers(0, len(centres))] + 0.8 * rng.standard_normal(DIM).astype(np.float32)
    q = (q / np.linalg.norm(q)).astype(np.float32)
    # Two words as frequent as in the text, two rarer ones (names, numbers): a news question's mix.
    tokens = [f"w{int(r)}x" for r in [*rng.choice(ranks[:100000], 2), *rng.integers(1000, VOCAB, 2)]]
    o = int(rng.integers(0, len(OUTLETS)))
    start = np.datetime64("2024-01-01") + int(rng.integers(0, 670))
    flt = {
        "none": None,
        "outlet": Filter.of([OUTLETS[o]]),
        "window": Filter.of([], str(start), str(start + 60)),
        "outlet+window": Filter.of([OUTLETS[o]], str(start), str(start + 60)),
    }[kind]
    return kind, q, tokens, o, start, flt


def _fused_top(dense: list[tuple[int, float]], lexical: list[tuple[int, float]]) -> list[int]:
    """The top 40 of the reciprocal-rank fusion of both lists (weights and k as rag.retrieval's defaults)."""
    fused: dict[int, float] = {}
    for ranked, w in ((dense, 0.5), (lexical, 1.0)):
        for r, (cid, _) in enumerate(ranked):
            fused[cid] = fused.get(cid, 0.0) + w / (10 + r + 1)
    return sorted(fused, key=lambda c: -fused[c])[:40]


def _serial(backend, q: np.ndarray, tokens: list[str], flt: Filter | None) -> float:  # noqa: ANN001
    """Seconds for the same search with dense and BM25 one after the other (as before `candidates`)."""
    t = time.perf_counter()
    memo: dict = {}
    with backend.session():
        dense = backend.dense_top(q, 60, flt, memo)
        backend.fetch(_fused_top(dense, backend.lexical_top(tokens, 60, flt, memo)))
    return time.perf_counter() - t


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--chunks", type=int, default=1_000_000)
    p.add_argument("--queries", type=int, default=200)
    p.add_argument("--out", type=Path, help="write the JSON result here too")
    p.add_argument(
        "--root",
        type=Path,
        help="keep the server's folder here (not removed); a later run with the same "
        "--root and --chunks reuses the index built there instead of building again",
    )
    p.add_argument(
        "--check-bm25",
        type=int,
        default=0,
        metavar="N",
        help="also compare the first N queries' BM25 top-60 with scoring every posting (after the timed queries)",
    )
    p.add_argument(
        "--compare-serial",
        action="store_true",
        help="also time each query with dense and BM25 one after the other (alternating which runs first)",
    )
    p.add_argument("--warmup", type=int, default=0, metavar="N", help="run N other queries first, untimed")
    p.add_argument("--shared-buffers", default="2GB", help="the server's shared_buffers (default 2GB)")
    args = p.parse_args(argv)

    from rag.backends.postgres import PostgresBackend, connect
    from rag.pgserver import LocalPostgres

    t0 = time.perf_counter()
    done = args.root / "build.json" if args.root else None
    reuse = done is not None and done.exists() and json.loads(done.read_text())["chunks"] == args.chunks
    # A reuse run makes no texts: several GB at 1,000,000 chunks, which would push the index out of the
    # page cache before the queries (an app process holds none of it).
    articles, chunks, vecs, meta, (rng, centres, words, ranks) = corpus(args.chunks, texts=not reuse)
    gen_s = time.perf_counter() - t0
    print(f"generated {len(vecs)} chunks in {gen_s:.0f} s", file=sys.stderr)
    conf = {"shared_buffers": args.shared_buffers, "maintenance_work_mem": "4GB",
            "max_parallel_maintenance_workers": "1", "work_mem": "64MB", "effective_cache_size": "8GB",
            "max_wal_size": "8GB", "checkpoint_timeout": "30min"}  # fmt: skip
    server = LocalPostgres.start(args.root, conf=conf)
    try:
        dsn = server.dsn
        fields = {"model": "synthetic", "dimension": DIM, "chunk_size": 1000, "chunk_overlap": 0,
                  "embed_title": False, "embed_backend": "synthetic"}  # fmt: skip
        if reuse:
            assert done is not None
            build_s = json.loads(done.read_text())["build_s"]
            print(f"reusing the index in {args.root} (built in {build_s:.0f} s)", file=sys.stderr)
        else:
            t0 = time.perf_counter()
            PostgresBackend.apply(dsn, Changes([], articles, chunks, vecs), fields, None, ann_threshold=50_000,
                                  hnsw_m=16, hnsw_ef_construction=64)  # fmt: skip
            build_s = time.perf_counter() - t0
            print(f"built in {build_s:.0f} s", file=sys.stderr)
        n_chunks, n_articles = len(vecs), len(vecs) // PER_ARTICLE
        # The texts are not needed past the build: an app process would not hold them (a few GB at 1,000,000
        # chunks, page cache the database's reads could use), and recall needs only the vectors.
        del articles, chunks
        gc.collect()
        conn = connect(dsn, autocommit=True)
        conn.execute("VACUUM ANALYZE")
        if done is not None:
            done.write_text(json.dumps({"chunks": n_chunks, "build_s": build_s}))
        sizes = dict(
            conn.execute(
                "SELECT relname, pg_total_relation_size(oid) FROM pg_class WHERE relname LIKE 'rag_%' AND relkind = 'r'"
            ).fetchall()
        )
        hnsw = conn.execute(
            "SELECT coalesce(pg_relation_size(to_regclass('rag_chunks_hnsw')), 0) "
            "+ coalesce(pg_relation_size(to_regclass('rag_chunks_hnsw_half')), 0)"
        ).fetchone()[0]
        db = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
        conn.close()
        backend = PostgresBackend(dsn)

        kinds = KINDS
        times: dict[str, list[float]] = {k: [] for k in kinds}
        recall: dict[str, list[float]] = {k: [] for k in kinds}
        parts: dict[str, list[float]] = {"candidates": [], "fetch": [], "dense": [], "bm25": []}
        bm25_by: dict[str, list[float]] = {k: [] for k in kinds}
        dense_by: dict[str, list[float]] = {k: [] for k in kinds}
        bm25_same: list[bool] = []
        to_check: list[tuple[list[str], np.ndarray, list[tuple[int, float]]]] = []
        warm = np.random.default_rng(12345)  # its own queries: the timed ones stay the same with or without
        for qi in range(args.warmup):
            _, q, tokens, _, _, flt = _query(warm, qi, centres, ranks)
            with backend.session():
                backend.dense_top(q, 60, flt, {})
                backend.lexical_top(tokens, 60, flt, {})
        later: list[tuple] = []
        load_before = os.getloadavg()[0]
        serial: dict[str, list[float]] = {k: [] for k in kinds}
        for qi in range(args.queries):
            kind, q, tokens, o, start, flt = _query(rng, qi, centres, ranks)
            first = (qi // len(kinds)) % 2 == 0  # each kind has its serial search first on half of its queries
            if args.compare_serial and first:
                serial[kind].append(_serial(backend, q, tokens, flt))
            t1 = time.perf_counter()
            memo: dict = {}  # one per question, shared by its searches (as rag.retrieval does)
            with backend.session():
                # As rag.retrieval does: both candidate lists at once (PostgresBackend.candidates), then fusion.
                dense, lexical = backend.candidates(q, tokens, 60, flt, memo)
                t2 = time.perf_counter()
                parts["candidates"].append(t2 - t1)
                top = _fused_top(dense, lexical)
                t3 = time.perf_counter()
                backend.fetch(top)
                parts["fetch"].append(time.perf_counter() - t3)
            times[kind].append(time.perf_counter() - t1)
            # Each part alone (not part of the timed search): dense, then BM25, in one snapshot of their own.
            t4 = time.perf_counter()
            with backend.session():
                backend.dense_top(q, 60, flt, {})
                t5 = time.perf_counter()
                backend.lexical_top(tokens, 60, flt, {})
                t6 = time.perf_counter()
            parts["dense"].append(t5 - t4)
            parts["bm25"].append(t6 - t5)
            dense_by[kind].append(t5 - t4)
            bm25_by[kind].append(t6 - t5)
            if args.compare_serial and not first:
                serial[kind].append(_serial(backend, q, tokens, flt))
            # Checked after the timed queries: the exact search copies up to 1.5 GB per query (page faults, BLAS
            # threads spinning afterwards), work that slowed the next timed query when it ran in between.
            checked = lexical if qi < args.check_bm25 else None
            later.append((kind, q, o, start, tokens, [cid for cid, _ in dense[:10]], checked))
        load_end = os.getloadavg()[0]

        for kind, q, o, start, tokens, top10, lexical in later:
            mask = np.ones(len(vecs), dtype=bool)
            if kind in ("outlet", "outlet+window"):
                mask &= meta["outlet"] == o
            if kind in ("window", "outlet+window"):
                mask &= (meta["day"] >= start) & (meta["day"] <= start + 60)
            if lexical is not None:
                to_check.append((tokens, mask, lexical))
            allowed = np.flatnonzero(mask)
            if len(allowed):
                exact = allowed[np.argsort(-(vecs[allowed] @ q), kind="stable")[:10]]
                recall[kind].append(len(set(top10) & set(exact.tolist())) / min(10, len(allowed)))

        for tokens, mask, lexical in to_check:
            with backend.session():
                bm25_same.append(lexical == _every_posting(backend, tokens, 60, mask))

        def ms(xs: list[float]) -> dict:
            a = np.asarray(xs) * 1000
            return {"p50": round(float(np.percentile(a, 50)), 1), "p95": round(float(np.percentile(a, 95)), 1)}

        everything = [t for k in kinds for t in times[k]]
        result = {
            "chunks": n_chunks,
            "articles": n_articles,
            "build_s": round(build_s, 1),
            "build_s_per_million": round(build_s / n_chunks * 1e6, 1),
            "db_mb": round(db / 2**20, 1),
            "db_mb_per_million": round(db / 2**20 / n_chunks * 1e6, 1),
            "table_mb": {k: round(v / 2**20, 1) for k, v in sorted(sizes.items())},
            "hnsw_mb": round(hnsw / 2**20, 1),
            "hybrid_ms": ms(everything),
            "hybrid_ms_by_filter": {k: ms(times[k]) for k in kinds},
            "parts_ms": {k: ms(v) for k, v in parts.items()},
            "bm25_ms_by_filter": {k: ms(bm25_by[k]) for k in kinds},
            "dense_ms_by_filter": {k: ms(dense_by[k]) for k in kinds},
            "load_1min": {"queries_start": round(load_before, 2), "queries_end": round(load_end, 2)},
            "recall_at_10": {k: round(float(np.mean(recall[k])), 3) for k in kinds if recall[k]},
            "queries": args.queries,
            "warmup": args.warmup,
            "shared_buffers": args.shared_buffers,
        }
        if args.compare_serial:
            result["serial_hybrid_ms"] = ms([t for k in kinds for t in serial[k]])
            result["serial_hybrid_ms_by_filter"] = {k: ms(serial[k]) for k in kinds}
        if bm25_same:
            result["bm25_same_as_every_posting"] = f"{sum(bm25_same)}/{len(bm25_same)}"
        backend.close()
    finally:
        server.stop(remove=args.root is None)
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
