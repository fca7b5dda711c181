"""Load: 8 simultaneous users, as threads sharing one Pipeline (the chat app) and as 8 `rag ask` processes.

Prints latency (median, 95th percentile), throughput, peak resident memory, and whether every concurrent
answer equals the sequential answer to the same question. Results go in docs/reliability.md.

    .venv/bin/python bench/load.py                                  # seed index, built in a temp folder
    .venv/bin/python bench/load.py --index-dir /work/cache/mh-index --no-processes --soak 8 \\
        --questions ../shared/eval/multihop_rag/queries_dev.jsonl --limit 12

Memory is read from /proc: VmRSS/VmHWM (resident now / peak) of this process for the threads, and each
child's VmHWM, polled while it runs, for the processes. Linux only.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rag.config import Settings  # noqa: E402
from rag.pipeline import Pipeline  # noqa: E402


def proc_status_kb(field: str, pid: int | str = "self") -> int:
    """A `Vm*` field of /proc/<pid>/status in kB (VmRSS: resident now, VmHWM: peak resident)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def answer_key(ans: dict[str, Any]) -> tuple:
    """What must match between a concurrent and a sequential answer: text, refusal, and every citation."""
    cites = tuple((c["article_id"], c["start"], c["end"], c["quote"]) for c in ans["citations"])
    return ans["answer"], ans["refused"], cites


def read_questions(path: Path, limit: int | None) -> list[str]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r["question"] for r in rows][:limit]


def threads_run(pipe: Pipeline, questions: list[str], users: int, rounds: int) -> dict[str, Any]:
    """`users` threads, each asking every question `rounds` times (in its own rotated order)."""
    latencies: list[float] = []
    answers: dict[str, set] = {q: set() for q in questions}
    errors: list[str] = []
    lock = threading.Lock()

    def user(u: int) -> None:
        order = questions[u % len(questions) :] + questions[: u % len(questions)]
        for _ in range(rounds):
            for q in order:
                t = time.perf_counter()
                try:
                    key = answer_key(pipe.ask(q).to_json())
                except Exception as exc:  # noqa: BLE001 - counted and reported
                    with lock:
                        errors.append(f"{q}: {exc!r}")
                    continue
                with lock:
                    latencies.append(time.perf_counter() - t)
                    answers[q].add(key)

    t0 = time.perf_counter()
    workers = [threading.Thread(target=user, args=(u,)) for u in range(users)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    wall = time.perf_counter() - t0
    return {"latencies": latencies, "answers": answers, "errors": errors, "wall": wall}


def processes_run(index_dir: Path, questions: list[str], users: int) -> dict[str, Any]:
    """`users` `rag ask --json` processes at once, each answering every question from stdin (JSON Lines).

    Peak memory is each child's own VmHWM, read from /proc while it runs (`ru_maxrss` from wait4 would also
    count the pages it shared with this large parent before exec).
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")} | {"RAG_INDEX_DIR": str(index_dir)}
    stdin = "".join(json.dumps({"id": i, "question": q}) + "\n" for i, q in enumerate(questions))
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "rag.cli", "ask", "--json"],
            env=env,
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        for _ in range(users)
    ]
    t0 = time.perf_counter()
    outs: list[str] = [""] * users
    walls: list[float] = [0.0] * users
    peaks: list[int] = [0] * users

    def talk(i: int) -> None:
        outs[i] = procs[i].communicate(stdin)[0]
        walls[i] = time.perf_counter() - t0

    talkers = [threading.Thread(target=talk, args=(i,)) for i in range(users)]
    for t in talkers:
        t.start()
    while any(t.is_alive() for t in talkers):
        for i, p in enumerate(procs):
            with contextlib.suppress(OSError, KeyError):  # exited (or a zombie without memory) since the last look
                peaks[i] = max(peaks[i], proc_status_kb("VmHWM", p.pid))
        time.sleep(0.1)
    for t in talkers:
        t.join()
    return {
        "wall": time.perf_counter() - t0,
        "walls": walls,
        "peaks_kb": peaks,
        "returncodes": [p.returncode for p in procs],
        "outs": [[json.loads(line) for line in out.splitlines() if line.strip()] for out in outs],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index-dir", type=Path, help="an index to load (default: build the seed index in a temp dir)")
    parser.add_argument("--questions", type=Path, default=ROOT.parent / "shared" / "eval" / "seeds_dev.jsonl")
    parser.add_argument("--limit", type=int, help="only the first N questions")
    parser.add_argument("--users", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3, help="times each thread asks every question")
    parser.add_argument("--no-processes", action="store_true", help="skip the CLI-process part")
    parser.add_argument("--soak", type=int, default=0, help="then N more rounds of the threads, RSS after each")
    args = parser.parse_args()

    tmp = None
    if args.index_dir is None:
        tmp = Path(tempfile.mkdtemp(prefix="rag-load-"))
        shutil.copytree(ROOT / "seeds", tmp / "corpus")
        args.index_dir = tmp / "index"
        # Built in a child process, so that this one starts small and its memory figures mean something.
        env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
        cmd = [
            sys.executable,
            "-m",
            "rag.cli",
            "index",
            "--corpus",
            str(tmp / "corpus"),
            "--index-dir",
            str(args.index_dir),
        ]
        subprocess.run(cmd, env=env, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        return run(args)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def run(args: argparse.Namespace) -> int:
    questions = read_questions(args.questions, args.limit)
    settings = Settings(index_dir=args.index_dir)
    rss_start = proc_status_kb("VmRSS")
    pipe = Pipeline(settings)
    t = time.perf_counter()
    pipe.ask(questions[0])  # load index and model
    load_s = time.perf_counter() - t
    rss_loaded = proc_status_kb("VmRSS")

    seq_lat, expected = [], {}
    for q in questions:
        t = time.perf_counter()
        expected[q] = answer_key(pipe.ask(q).to_json())
        seq_lat.append(time.perf_counter() - t)
    rss_seq = proc_status_kb("VmRSS")

    conc = threads_run(pipe, questions, args.users, args.rounds)
    rss_conc = proc_status_kb("VmRSS")
    conc2 = threads_run(pipe, questions, args.users, args.rounds)  # memory must not keep growing
    rss_conc2 = proc_status_kb("VmRSS")
    differing = [q for q in questions if conc["answers"][q] | conc2["answers"][q] != {expected[q]}]

    index = pipe.index
    print(f"index: {args.index_dir} ({len(index.articles)} articles, {len(index.chunks)} chunks)")
    print(f"questions: {args.questions.name} x {len(questions)}; users: {args.users}; rounds: {args.rounds}")
    print(f"cpu cores: {os.cpu_count()}; load average at start: {os.getloadavg()[0]:.2f}")
    print(f"\nload (index + model + first answer): {load_s:.2f} s")
    print(
        f"sequential, 1 user:  median {statistics.median(seq_lat) * 1000:.0f} ms, "
        f"p95 {pct(seq_lat, 0.95) * 1000:.0f} ms, {len(questions) / sum(seq_lat):.1f} answers/s"
    )
    for name, c in (("run 1", conc), ("run 2", conc2)):
        lat = c["latencies"]
        print(
            f"{args.users} threads, one Pipeline ({name}): {len(lat)} answers in {c['wall']:.1f} s "
            f"({len(lat) / c['wall']:.1f} answers/s), median {statistics.median(lat) * 1000:.0f} ms, "
            f"p95 {pct(lat, 0.95) * 1000:.0f} ms, errors {len(c['errors'])}"
        )
    print(f"answers equal to sequential: {len(questions) - len(differing)}/{len(questions)} questions")
    print(
        f"memory (this process): start {rss_start / 1024:.0f} MB, loaded {rss_loaded / 1024:.0f} MB, "
        f"after sequential {rss_seq / 1024:.0f} MB, after {args.users} threads {rss_conc / 1024:.0f} MB, "
        f"after a second round {rss_conc2 / 1024:.0f} MB, peak (VmHWM) {proc_status_kb('VmHWM') / 1024:.0f} MB"
    )
    status = 0 if not differing and not conc["errors"] and not conc2["errors"] else 1
    if args.soak:
        sizes = []
        for _ in range(args.soak):
            soak = threads_run(pipe, questions, args.users, 1)
            sizes.append(proc_status_kb("VmRSS") // 1024)
            status |= int(bool(soak["errors"]) or any(soak["answers"][q] != {expected[q]} for q in questions))
        print(f"resident memory after each of {args.soak} more rounds (MB): {', '.join(map(str, sizes))}")

    if not args.no_processes:
        procs = processes_run(args.index_dir, questions, args.users)
        wrong = 0
        for out in procs["outs"]:
            got = {questions[o["id"]]: answer_key(o) for o in out if "answer" in o}
            wrong += len(questions) - sum(got.get(q) == expected[q] for q in questions)
        print(
            f"\n{args.users} `rag ask --json` processes at once, {len(questions)} questions each: all done in "
            f"{procs['wall']:.1f} s; per process wall {min(procs['walls']):.1f}-{max(procs['walls']):.1f} s; "
            f"exit codes {sorted(set(procs['returncodes']))}; answers differing from sequential: {wrong}"
        )
        peaks = procs["peaks_kb"]
        print(
            f"peak resident memory per process: {min(peaks) / 1024:.0f}-{max(peaks) / 1024:.0f} MB "
            f"(sum {sum(peaks) / 1024:.0f} MB)"
        )
        status |= int(wrong > 0 or any(procs["returncodes"]))
    return status


if __name__ == "__main__":
    raise SystemExit(main())
