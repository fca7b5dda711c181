"""Warm retrieval latency: question analysis + hybrid search of the top 10, one question at a time.

    .venv/bin/python bench/retrieval_latency.py --index-dir /work/cache/mh-index [--n 200]

Loads the index and model once, warms up on a few questions, then times `Pipeline.search_query` +
`Pipeline.retrieve(k=10)` for each MultiHop-RAG dev question (null queries included) and prints the median,
90th percentile and maximum in milliseconds. The target (issue 5) is a median under 50 ms on the 609-article
index. The machine is shared, so run it when nothing else is busy and report the load beside the numbers.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rag.config import get_settings  # noqa: E402
from rag.evaluation import read_jsonl  # noqa: E402
from rag.pipeline import Pipeline  # noqa: E402

QUERIES = ROOT.parent / "shared" / "eval" / "multihop_rag" / "queries_dev.jsonl"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index-dir", type=Path, default=None)
    parser.add_argument("--queries", type=Path, default=QUERIES)
    parser.add_argument("--n", type=int, default=200, help="number of questions timed")
    args = parser.parse_args()
    settings = get_settings()
    if args.index_dir:
        settings = settings.model_copy(update={"index_dir": args.index_dir})
    questions = [r["question"] for r in read_jsonl(args.queries)]
    pipeline = Pipeline(settings)
    for q in questions[:5]:  # warm-up: model, BM25 and numpy code paths
        pipeline.retrieve(pipeline.search_query(q), k=10)
    times = []
    for q in questions[: args.n]:
        t0 = time.perf_counter()
        pipeline.retrieve(pipeline.search_query(q), k=10)
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    load = os.getloadavg()[0]
    print(
        f"{len(times)} retrievals (k=10) over {len(pipeline.index.chunks)} chunks: "
        f"median {statistics.median(times):.1f} ms, p90 {times[int(0.9 * (len(times) - 1))]:.1f} ms, "
        f"max {times[-1]:.1f} ms (load average {load:.2f})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
