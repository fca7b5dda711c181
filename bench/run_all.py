"""Run every performance benchmark (issue 8) in order, then print one summary against the targets.

    .venv/bin/python bench/run_all.py [--wait-load 2.5] [--quick] [--only NAME ...]

Order matters: compare_pipelines builds the 609-article indexes (LangChain, ours with torch, ours with
onnx-int8) that incremental, query_latency and scale then reuse. Each benchmark runs in its own process
and writes bench/results/<name>.json; the summary is read from those files, so `--summary` alone reprints
it. `--quick` runs everything on tiny inputs (a few articles and questions, 3,000 synthetic chunks with
the HNSW threshold lowered): a check that the scripts work, not a measurement. The machine is shared:
`--wait-load` holds each benchmark until the 1-minute load average is below the given value.
Full run on a quiet 2-core machine: about 35 minutes.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import benchlib
from benchlib import WORK

HERE = Path(__file__).resolve().parent
ORDER = ["build_throughput", "compare_pipelines", "incremental", "query_latency", "scale"]
QUICK = {
    "build_throughput": ["--articles", "3"],
    "compare_pipelines": ["--articles", "4", "--queries", "12"],
    "incremental": ["--corpus", str(WORK / "compare-corpus" / "corpus.jsonl"), "--repeat", "1"],
    "query_latency": ["--n", "10", "--cold-repeat", "1"],
    "scale": ["--chunks", "3000", "--n", "10"],
}


def _get(d: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(d, dict) or part not in d:
            return None
        d = d[part]
    return d


def summary() -> list[tuple[str, str, str, str, str]]:
    """(figure, target, measured, verdict, load average before the run) rows from the saved results."""
    rows: list[tuple[str, str, str, str, str]] = []
    load = ""

    def add(figure: str, target: str, value: Any, ok: bool | None, fmt: str = "{}") -> None:
        shown = "-" if value is None else fmt.format(value)
        verdict = "-" if value is None or ok is None else ("holds" if ok else "MISSED")
        rows.append((figure, target, shown, verdict, load))

    def result(name: str) -> dict[str, Any]:
        nonlocal load
        saved = benchlib.load_result(name) or {}
        load = saved.get("load_before", "")
        return saved.get("results") or {}

    bt = result("build_throughput")
    for backend, r in (bt.get("backends") or {}).items():
        add(f"build / raw encode ({backend})", ">= 90%", r["build_vs_raw"], r["build_vs_raw"] >= 0.9, "{:.1%}")
        add(f"build chunks/s ({backend})", "-", r["build_chunks_per_s"], None)
    speed = bt.get("onnx_speedup_raw")
    add("onnx-int8 speed-up (raw encode)", ">= 1.5x", speed, speed is not None and speed >= 1.5, "{:.2f}x")
    compared = result("compare_pipelines")
    cp = compared.get("pipelines") or {}
    if "torch" in cp and "onnx-int8" in cp:
        delta = (cp["onnx-int8"]["hits4"] - cp["torch"]["hits4"]) * 100
        add("onnx-int8 Hits@4 change (points)", "> -1.0", delta, delta > -1.0, "{:+.1f}")
    for name, r in (compared.get("ratios") or {}).items():
        add(f"ours ({name}) vs LangChain: build speed", "-", r["build_speedup"], None, "{:.2f}x")
        add(f"ours ({name}) vs LangChain: Hits@4", "-", r["hits4_delta"], None, "{:+.3f}")
        add(f"ours ({name}) vs LangChain: MRR@10", "-", r["mrr10_delta"], None, "{:+.3f}")
    inc = result("incremental")
    share = inc.get("share_of_full_build")
    add(f"add one article ({inc.get('backend', '?')})", "< 3% of full build", share, share is not None and share < 0.03,
        "{:.2%}")  # fmt: skip
    ql = result("query_latency")
    for backend, r in ql.items():
        if not isinstance(r, dict):
            continue
        a = r["answer"]
        add(f"answer p50 / p95 ({backend})", "< 100 ms", f"{a['median_ms']:.0f} / {a['p95_ms']:.0f} ms",
            a["p95_ms"] < 100 and a["median_ms"] < 100)  # fmt: skip
        add(f"cold start to first answer ({backend})", "-", r["cold"]["wall_median_s"], None, "{:.2f} s")
    sc = result("scale")
    big = sc.get("synthetic")
    if big:
        r = big["retrieve"]
        add(f"retrieval p50 / p95 at {big['chunks']} chunks", "< 50 ms", f"{r['median_ms']:.0f} / {r['p95_ms']:.0f} ms",
            r["p95_ms"] < 50 and r["median_ms"] < 50)  # fmt: skip
        ef = str(_get(big, "faiss_index.ef_search"))
        h = big["hnsw"].get(ef)
        if h:
            add(f"HNSW recall@10 vs exact (efSearch {ef})", "-", h["recall_at_10"], None, "{:.3f}")
        add("RSS per 100k chunks, index + metadata", "-", big["rss_index_per_100k_mb"], None, "{:.0f} MB")
        add("RSS per 100k chunks, with retriever", "-", big["rss_total_per_100k_mb"], None, "{:.0f} MB")
    return rows


def print_summary() -> None:
    head = ("figure", "target", "measured", "verdict", "load before")
    rows = summary()
    widths = [max(len(r[i]) for r in [*rows, head]) for i in range(len(head))]
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    print("\n== summary ==")
    print(line.format(*head))
    for r in rows:
        print(line.format(*r))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", nargs="+", choices=ORDER, help="run only these benchmarks")
    ap.add_argument("--quick", action="store_true", help="tiny inputs: check the scripts, measure nothing")
    ap.add_argument("--wait-load", type=float, default=0.0, help="hold each benchmark until the load is below this")
    ap.add_argument("--summary", action="store_true", help="only print the summary of the saved results")
    args = ap.parse_args(argv)
    if not args.summary:
        env = dict(os.environ)
        if args.quick:
            env["RAG_ANN_THRESHOLD"] = "1000"  # so the quick scale run exercises HNSW
        failed = []
        for name in args.only or ORDER:
            cmd = [sys.executable, str(HERE / f"{name}.py"), "--wait-load", str(args.wait_load)]
            cmd += QUICK[name] if args.quick else []
            print(f"\n$ {' '.join(cmd)}", flush=True)
            if subprocess.run(cmd, env=env).returncode:
                failed.append(name)
        if failed:
            print(f"\nfailed: {', '.join(failed)}")
            print_summary()
            return 1
    print_summary()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
