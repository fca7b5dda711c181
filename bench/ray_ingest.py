"""Ray ingestion against the local build: chunks/s of `rag index` and `rag index --engine ray`, same corpus.

    .venv/bin/python bench/ray_ingest.py [--articles 609]     # docs/scaling.md; needs the cluster extra

Each build runs as a fresh `rag index --json` process into an empty folder, as a user would run it: the local
build includes loading the model; the Ray build includes starting a local cluster (127.0.0.1) and loading the
model once per actor. The Ray line is also given without the cluster start (from its own stderr timing).
Then one article is changed and both are run again: only its chunks are embedded.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "eval" / "multihop_rag" / "corpus.jsonl"


def run(args: list[str]) -> tuple[dict, float, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "rag.cli", "index", "--json", *args], capture_output=True, text=True,
                         env=env, cwd=ROOT)  # fmt: skip
    wall = time.perf_counter() - t0
    if out.returncode:
        raise SystemExit(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1]), wall, out.stderr


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--articles", type=int, default=609)
    args = p.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="rag-ray-bench-"))
    corpus = work / "corpus"
    corpus.mkdir()
    lines = CORPUS.read_text(encoding="utf-8").splitlines()[: args.articles]
    (corpus / "c.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    result: dict = {"articles": len(lines), "load_1min_before": os.getloadavg()[0]}
    for name, extra in (("local", []), ("ray", ["--engine", "ray"])):
        summary, wall, err = run(["--corpus", str(corpus), "--index-dir", str(work / name), *extra])
        n = summary["chunks"]
        row = {"chunks": n, "seconds": round(wall, 1), "chunks_per_s": round(n / wall, 1)}
        m = re.search(r"embedded (\d+) chunks on Ray in ([\d.]+) s", err)
        if m:
            row["ray_job_seconds"] = float(m.group(2))
            row["chunks_per_s_without_cluster_start"] = round(int(m.group(1)) / float(m.group(2)), 1)
        result[name] = row
        print(name, row, file=sys.stderr)
    result["ray_over_local"] = round(result["ray"]["chunks_per_s"] / result["local"]["chunks_per_s"], 3)
    # One changed article: only it is re-embedded (both engines).
    first = json.loads(lines[0])
    first["body"] += "\nA sentence added for the incremental benchmark."
    (corpus / "c.jsonl").write_text("\n".join([json.dumps(first), *lines[1:]]) + "\n", encoding="utf-8")
    for name, extra in (("local", []), ("ray", ["--engine", "ray"])):
        summary, wall, _ = run(["--corpus", str(corpus), "--index-dir", str(work / name), *extra])
        result[f"{name}_one_changed"] = {"updated": summary["updated"], "seconds": round(wall, 1)}
    shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
