"""Follow-up latency on the 609-article MultiHop-RAG index: a conversation's later turns, warm.

    .venv/bin/python bench/followup_latency.py --index-dir <609-article index> [--repeat 3]

The MultiHop-RAG dialogues of `eval/` are asked turn by turn in one `Pipeline` (5 warm-up dialogues first); each
follow-up's `Pipeline.ask` is timed, with the focus search (`RAG_FOCUS_WEIGHT`, the follow-up's own words within
the articles the last answers cited) at its default and off. Each setting asks every dialogue `--repeat` times;
the medians and p95 are over all follow-ups. Targets: median and p95 under 100 ms, as for a first question.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from benchlib import CACHED_MH_INDEX, header, save, summary_ms, wait_quiet

from rag.config import Settings
from rag.pipeline import Pipeline
from rag.types import Turn

EVAL = Path(__file__).resolve().parents[1] / "eval"


def dialogues() -> list[list[str]]:
    """The questions of every MultiHop-RAG dialogue in `eval/`, one list per dialogue."""
    out = []
    for path in sorted(EVAL.glob("dialogues_*multihop*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                out.append([t["question"] for t in json.loads(line)["turns"]])
    return out


def follow_ups(pipeline: Pipeline, convs: list[list[str]]) -> list[float]:
    """Seconds of each follow-up's `ask` (the first turn of each dialogue is asked, not timed)."""
    seconds = []
    for questions in convs:
        history: list[Turn] = []
        for i, q in enumerate(questions):
            t0 = time.perf_counter()
            answer = pipeline.ask(q, history=history)
            if i:
                seconds.append(time.perf_counter() - t0)
            history.append(Turn.from_answer(answer))
    return seconds


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--index-dir", type=Path, default=CACHED_MH_INDEX)
    ap.add_argument("--repeat", type=int, default=3, help="times each dialogue is asked per setting (default 3)")
    ap.add_argument("--wait-load", type=float, default=0.0, help="wait until the load average is below this")
    args = ap.parse_args(argv)

    wait_quiet(args.wait_load, 3600)
    info = header("followup_latency")
    convs = dialogues()
    results = {}
    for name, weight in (("focus", Settings().focus_weight), ("no focus", 0.0)):
        pipeline = Pipeline(Settings(index_dir=args.index_dir, focus_weight=weight))
        follow_ups(pipeline, convs[:5])  # warm-up
        seconds = [s for _ in range(args.repeat) for s in follow_ups(pipeline, convs)]
        results[name] = {"focus_weight": weight, "follow_ups": len(seconds), **summary_ms(seconds)}
        r = results[name]
        line = f"{r['follow_ups']} follow-ups: p50 {r['median_ms']:.1f} ms p95 {r['p95_ms']:.1f} ms"
        print(f"  {name:<9} {line}", flush=True)
    results["load_during"] = os.getloadavg()[0]
    save("followup_latency", info, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
