"""Shared helpers of the performance benchmarks (issue 8): paths, machine state, timing, memory, results.

Every benchmark prints a header with the date, the git commit and the load average, because on a shared
2-core machine a number taken under load says little; `wait_quiet` can hold a run until the load drops.
Results are also written as JSON to `bench/results/<name>.json` (not committed), which `run_all.py` reads
for its summary and later benchmarks read for figures measured earlier in the same run (e.g. the full build
time the incremental update is compared with).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SHARED = ROOT.parent / "shared"
MH_DIR = SHARED / "eval" / "multihop_rag"
MH_CORPUS = MH_DIR / "corpus.jsonl"
MH_QUERIES = MH_DIR / "queries_dev.jsonl"
#: A prebuilt 609-article MultiHop-RAG index (torch backend), if the machine has one; used read-only.
CACHED_MH_INDEX = Path("/work/cache/mh-index")
RESULTS = Path(__file__).resolve().parent / "results"
WORK = Path(os.environ.get("BENCH_WORK", "/tmp/rag-bench"))

#: Code for the instrumented child processes: `timed(name, fn)` wraps `fn` and adds its run time to `stages`.
TIMED = """stages = {}
def timed(name, fn):
    def wrapper(*a, **k):
        t0 = time.perf_counter()
        try:
            return fn(*a, **k)
        finally:
            stages[name] = stages.get(name, 0.0) + time.perf_counter() - t0
    return wrapper
"""


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "rag"], cwd=ROOT, capture_output=True, text=True)
        return out.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except OSError:
        return "unknown"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def header(name: str, command: str | None = None) -> dict[str, Any]:
    """Print and return the run's context: what, when, where, on which commit, under which load."""
    info = {
        "benchmark": name,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": git_commit(),
        "cpu": f"{cpu_model()} ({os.cpu_count()} logical CPUs)",
        "load_before": load_average(),
        "command": command or " ".join([".venv/bin/python", *[_rel(a) for a in sys.argv]]),
    }
    print(f"== {name} ==")
    for key in ("date", "commit", "cpu", "load_before", "command"):
        print(f"  {key}: {info[key]}")
    return info


def _rel(arg: str) -> str:
    try:
        return str(Path(arg).resolve().relative_to(ROOT))
    except ValueError:
        return arg


def wait_quiet(max_load: float, timeout: float) -> None:
    """Sleep until the 1-minute load average is below `max_load` (or `timeout` seconds passed)."""
    if max_load <= 0:
        return
    deadline = time.time() + timeout
    while os.getloadavg()[0] > max_load and time.time() < deadline:
        print(f"  waiting for a quiet machine (load {load_average()} > {max_load})", flush=True)
        time.sleep(30)


def rss_mb() -> float:
    """Resident memory of this process now, in MB (Linux /proc)."""
    return _status_kb("VmRSS") / 1024


def peak_rss_mb() -> float:
    return _status_kb("VmHWM") / 1024


def _status_kb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return float(line.split()[1])
    return float("nan")


def time_retrievals(pipeline: Any, questions: list[str], k: int = 10) -> list[float]:
    """Seconds of each warm retrieval (question analysis + `retrieve` of the top `k`), one question at a time."""
    seconds = []
    for q in questions:
        t0 = time.perf_counter()
        pipeline.retrieve(pipeline.search_query(q), k=k)
        seconds.append(time.perf_counter() - t0)
    return seconds


def summary_ms(seconds: list[float]) -> dict[str, float]:
    """Median, 95th percentile and max of durations, in milliseconds."""
    ms = np.asarray(seconds) * 1000
    return {
        "n": len(ms),
        "median_ms": round(float(np.median(ms)), 2),
        "p95_ms": round(float(np.percentile(ms, 95)), 2),
        "max_ms": round(float(ms.max()), 2),
        "mean_ms": round(statistics.fmean(ms), 2),
    }


def save(name: str, info: dict[str, Any], results: dict[str, Any]) -> Path:
    """Write `bench/results/<name>.json` with the header, the results and the load average after the run."""
    RESULTS.mkdir(exist_ok=True)
    info = {**info, "load_after": load_average()}
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({**info, "results": results}, indent=2, ensure_ascii=False) + "\n")
    print(f"  load_after: {info['load_after']}\n  results: {_rel(str(path))}")
    return path


def load_result(name: str) -> dict[str, Any] | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def write_corpus(rows: list[dict[str, Any]], folder: Path) -> Path:
    """A corpus folder holding `rows` as one JSONL file (the MultiHop-RAG format `rag index` reads)."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    with (folder / "corpus.jsonl").open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    return folder


def fresh_dir(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def index_matches_code(index_dir: Path, settings: Any) -> bool:
    """Whether an existing index was built with these build settings (so it can be reused read-only)."""
    from rag.indexer import build_fields
    from rag.store import IndexProblem, read_manifest

    try:
        manifest = read_manifest(index_dir)
    except IndexProblem:
        return False
    manifest.setdefault("embed_backend", "torch")
    expect = build_fields(settings, manifest["dimension"])
    return all(manifest.get(k) == v for k, v in expect.items())
