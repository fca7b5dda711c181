"""Query latency on the 609-article MultiHop-RAG index: warm (median, p95) and cold start, per backend.

    .venv/bin/python bench/query_latency.py [--backends onnx-int8 torch] [--n 200]

Warm: one `Pipeline` per index, 5 warm-up questions, then for each of the first N MultiHop-RAG dev questions
  retrieve  `search_query` + `retrieve` (top 10): question analysis, query embedding, dense + BM25, fusion
  answer    `Pipeline.ask`: the same retrieval plus the extractive answer (sentence scoring, refusal)
Targets: answer median and p95 under 100 ms.
Cold start: wall time of `rag ask "<question>"` as a new process (median of 3, file cache warm), and one
instrumented process that shows where the time goes (imports, index load, model load, BM25, first answer).
The index is the one bench/compare_pipelines.py built for the backend (or `--index-dir`).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchlib import (
    CACHED_MH_INDEX,
    MH_QUERIES,
    TIMED,
    WORK,
    header,
    index_matches_code,
    read_jsonl,
    save,
    summary_ms,
    time_retrievals,
    wait_quiet,
)

from rag.config import Settings
from rag.pipeline import Pipeline

_COLD = r"""
import json, sys, time
t_start = time.time()
from pathlib import Path
import rag.pipeline as pl
from rag.config import Settings
t_imported = time.time()
""" + TIMED + r"""pl.load_index = timed("load index (verify + read FAISS, SQLite)", pl.load_index)
pl.get_embedder = timed("load model", pl.get_embedder)
pl.Retriever = timed("build retriever (BM25, arrays)", pl.Retriever)
pipeline = pl.Pipeline(Settings(index_dir=Path(sys.argv[1])))
t0 = time.perf_counter()
answer = pipeline.ask(sys.argv[2])
ask = time.perf_counter() - t0
stages["first answer itself"] = ask - sum(stages.values())
print(json.dumps({"t_start": t_start, "imports": t_imported - t_start, "stages": stages, "t_end": time.time()}))
"""


def index_for(backend: str, given: Path | None) -> Path:
    if given:
        return given
    built = WORK / f"mh-{backend}"
    if (built / "manifest.json").is_file():
        return built
    if backend == "torch" and index_matches_code(CACHED_MH_INDEX, Settings(embed_backend="torch")):
        return CACHED_MH_INDEX
    raise SystemExit(f"no 609-article {backend} index: run bench/compare_pipelines.py first, or pass --index-dir")


def warm(index_dir: Path, questions: list[str]) -> dict:
    pipeline = Pipeline(Settings(index_dir=index_dir))
    for q in questions[:5]:
        pipeline.ask(q)
    retrieve, answer = time_retrievals(pipeline, questions), []
    for q in questions:
        t0 = time.perf_counter()
        pipeline.ask(q)
        answer.append(time.perf_counter() - t0)
    return {"retrieve": summary_ms(retrieve), "answer": summary_ms(answer)}


def cold(index_dir: Path, question: str, repeat: int) -> dict:
    rag = str(Path(sys.executable).parent / "rag")
    walls = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run([rag, "ask", "--index-dir", str(index_dir), question], capture_output=True, check=True)
        walls.append(time.perf_counter() - t0)
    t0 = time.time()
    out = subprocess.run([sys.executable, "-c", _COLD, str(index_dir), question], capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(out.stderr)
    info = json.loads(out.stdout.strip().splitlines()[-1])
    breakdown = {"interpreter start": info["t_start"] - t0, "imports": info["imports"], **info["stages"]}
    return {
        "wall_s": [round(w, 2) for w in walls],
        "wall_median_s": round(statistics.median(walls), 2),
        "instrumented_total_s": round(info["t_end"] - t0, 2),
        "breakdown_s": {k: round(v, 3) for k, v in breakdown.items()},
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backends", nargs="+", default=["onnx-int8", "torch"], choices=["torch", "onnx-int8"])
    ap.add_argument("--index-dir", type=Path, help="index to use (only with a single backend)")
    ap.add_argument("--questions", type=Path, default=MH_QUERIES)
    ap.add_argument("--n", type=int, default=200, help="questions timed (default 200)")
    ap.add_argument("--cold-repeat", type=int, default=3)
    ap.add_argument("--wait-load", type=float, default=0.0, help="wait until the load average is below this")
    args = ap.parse_args(argv)

    wait_quiet(args.wait_load, 3600)
    info = header("query_latency")
    questions = [r["question"] for r in read_jsonl(args.questions)][: args.n]
    results = {}
    for backend in args.backends:
        index_dir = index_for(backend, args.index_dir if len(args.backends) == 1 else None)
        w = warm(index_dir, questions)
        c = cold(index_dir, questions[0], args.cold_repeat)
        results[backend] = {"index": str(index_dir), **w, "cold": c}
        r, a = w["retrieve"], w["answer"]
        print(
            f"  {backend:<10} warm retrieve p50 {r['median_ms']:.1f} ms p95 {r['p95_ms']:.1f} ms | "
            f"answer p50 {a['median_ms']:.1f} ms p95 {a['p95_ms']:.1f} ms (target < 100) | "
            f"cold start {c['wall_median_s']:.2f} s",
            flush=True,
        )
        for stage, sec in sorted(c["breakdown_s"].items(), key=lambda kv: -kv[1]):
            print(f"      {stage:<42} {sec:6.2f} s")
    results["load_during"] = os.getloadavg()[0]
    save("query_latency", info, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
