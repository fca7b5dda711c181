"""What storing sentence vectors costs and saves (docs/benchmarks.md, "Sentence vectors").

    python bench/sentence_vectors.py --index-dir <index> [--chunks 200] [--questions FILE] [--limit 40]

1. Index time: `Embedder.encode` against `Embedder.encode_spans` (the same model run plus pooling per sentence)
   on the same chunks, interleaved so that machine load hits both alike; chunks/s of each.
2. Disk: the sentence files against the FAISS file of the index.
3. Answer time: scoring the sentences of each question's passages (`rag.answer.extractive.rank_sentences`)
   with the stored vectors, and with them hidden (the fallback: six sentences embedded per answer).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rag.answer import extractive  # noqa: E402
from rag.config import Settings  # noqa: E402
from rag.evaluation import read_jsonl  # noqa: E402
from rag.indexer import embedding_text, sentence_spans_in  # noqa: E402
from rag.pipeline import Pipeline  # noqa: E402
from rag.sentence_vectors import FILES  # noqa: E402
from rag.store import FAISS_FILE  # noqa: E402

DEFAULT_QUESTIONS = ROOT.parent / "shared/eval/multihop_rag/queries_dev.jsonl"


def _ms(xs: list[float]) -> str:
    xs = sorted(xs)
    return f"median {1000 * statistics.median(xs):.1f} ms, p95 {1000 * xs[int(0.95 * (len(xs) - 1))]:.1f} ms"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--index-dir", required=True, type=Path)
    ap.add_argument("--chunks", type=int, default=200)
    ap.add_argument("--questions", type=Path, default=DEFAULT_QUESTIONS)
    ap.add_argument("--limit", type=int, default=40, help="questions timed (the first of the file)")
    args = ap.parse_args()
    pipe = Pipeline(Settings(index_dir=args.index_dir))
    r = pipe.retriever
    index, emb = r.index, r.embedder
    print(f"load average (1 min): {os.getloadavg()[0]:.1f}")

    chunks = [index.chunks[c] for c in sorted(index.chunks)[: args.chunks]]
    texts = [embedding_text(index.articles[c.article_id], c, pipe.settings.embed_title) for c in chunks]
    spans = [sentence_spans_in(c, t) for c, t in zip(chunks, texts, strict=True)]
    plain = pooled = 0.0
    for t, sp in zip(texts, spans, strict=True):
        t0 = time.perf_counter()
        emb.encode([t])
        t1 = time.perf_counter()
        emb.encode_spans([t], [sp])
        plain, pooled = plain + t1 - t0, pooled + time.perf_counter() - t1
    n_sent = sum(map(len, spans))
    print(f"index time, {len(chunks)} chunks ({n_sent} sentences): encode {len(chunks) / plain:.1f} chunks/s, "
          f"encode_spans {len(chunks) / pooled:.1f} chunks/s ({100 * (pooled / plain - 1):+.1f}%)")  # fmt: skip

    gen = Path(index.path) / str(index.manifest["generation"])
    faiss_mb = (gen / FAISS_FILE).stat().st_size / 1e6
    sent_mb = sum((gen / f).stat().st_size for f in FILES if (gen / f).exists()) / 1e6
    print(f"disk: sentence files {sent_mb:.1f} MB beside FAISS {faiss_mb:.1f} MB ({len(index.chunks)} chunks)")

    rows = [row for row in read_jsonl(args.questions) if "question" in row][: args.limit]
    stored = r.backend.sentences
    timings: dict[str, list[float]] = {"stored vectors": [], "six embedded per answer": []}
    for row in rows:
        query = pipe.search_query(row["question"])
        hits = pipe.retrieve(query)
        for label, hide in (("stored vectors", False), ("six embedded per answer", True)):
            r.backend.sentences = (lambda ids: None) if hide else stored  # type: ignore[method-assign]
            t0 = time.perf_counter()
            extractive.rank_sentences(row["question"], query, hits, r)
            timings[label].append(time.perf_counter() - t0)
    r.backend.sentences = stored  # type: ignore[method-assign]
    for label, xs in timings.items():
        print(f"answer time, sentence scoring over {len(rows)} questions, {label}: {_ms(xs)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
