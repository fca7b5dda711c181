"""Incremental update: the cost of adding one article to the 609-article MultiHop-RAG index vs a full build.

    .venv/bin/python bench/incremental.py [--backend onnx-int8] [--index-dir DIR] [--full-build-s S]

Each repetition copies the 609-article index to a fresh folder, puts one new article (a seed article, real
news of typical length) beside the corpus, and runs `rag index` as a new process, as a user would: the wall
time includes interpreter start, imports, loading and checking the previous index, reading and hashing all
610 articles, loading the model, embedding the new chunks and writing the new generation. A second,
instrumented process prints where that time goes. The full build it is compared with is the one
`bench/compare_pipelines.py` measured for the same backend (build + model load), or `--full-build-s`.
Target: under 3% of the full build.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchlib import (
    CACHED_MH_INDEX,
    MH_CORPUS,
    ROOT,
    TIMED,
    WORK,
    fresh_dir,
    header,
    index_matches_code,
    load_result,
    save,
    wait_quiet,
)

from rag.config import Settings

#: Runs in a fresh interpreter: wraps the indexer's steps with timers, then does one `update_index`.
_STAGES = r"""
import json, sys, time
t_start = time.time()
from pathlib import Path
import rag.indexer as ix
from rag.config import Settings
from rag.embedding import Embedder
t_imported = time.time()
""" + TIMED + r"""ix.load_index = timed("load previous index", ix.load_index)
ix.read_corpus = timed("read + hash corpus", ix.read_corpus)
ix.chunk_article = timed("chunk new articles", ix.chunk_article)
ix.get_embedder = timed("load model", ix.get_embedder)
Embedder.encode = timed("embed new chunks", Embedder.encode)
ix.write_generation = timed("write generation", ix.write_generation)
settings = Settings(index_dir=Path(sys.argv[1]), corpus_dir=Path(sys.argv[2]), embed_backend=sys.argv[3])
summary = ix.update_index(settings)
t_end = time.time()
print(json.dumps({"t_start": t_start, "imports": t_imported - t_start, "update": summary.seconds, "t_end": t_end,
                  "stages": stages, "added": summary.added, "embedded": summary.embedded_chunks}))
"""


def new_article() -> Path:
    """The seed article whose length is closest to the median MultiHop-RAG article's."""
    bodies = sorted(len(json.loads(line)["body"]) for line in MH_CORPUS.open(encoding="utf-8"))
    median = bodies[len(bodies) // 2]
    seeds = sorted((ROOT / "seeds").glob("*.md"))
    return min(seeds, key=lambda p: abs(len(p.read_text(encoding="utf-8")) - median))


def default_index(backend: str) -> Path:
    built = WORK / f"mh-{backend}"
    if (built / "manifest.json").is_file():
        return built
    settings = Settings(embed_backend=backend)
    if backend == "torch" and index_matches_code(CACHED_MH_INDEX, settings):
        return CACHED_MH_INDEX
    raise SystemExit(f"no 609-article {backend} index: run bench/compare_pipelines.py first, or pass --index-dir")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backend", default=Settings().embed_backend, choices=["torch", "onnx-int8"])
    ap.add_argument("--index-dir", type=Path, help="the 609-article index to copy (default: the benchmark's)")
    ap.add_argument("--corpus", type=Path, default=MH_CORPUS, help="the JSONL corpus that index was built from")
    ap.add_argument("--full-build-s", type=float, help="full build time to compare with (default: measured)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--wait-load", type=float, default=0.0, help="wait until the load average is below this")
    args = ap.parse_args(argv)

    wait_quiet(args.wait_load, 3600)
    info = header("incremental")
    source = args.index_dir or default_index(args.backend)
    full_s = args.full_build_s
    if full_s is None:
        prev = load_result("compare_pipelines")
        run = (prev or {}).get("results", {}).get("pipelines", {}).get(args.backend)
        if not run:
            raise SystemExit("no full build time: run bench/compare_pipelines.py first, or pass --full-build-s")
        full_s = run["build_s"] + run["model_load_s"]
    article = new_article()
    corpus = fresh_dir(WORK / "incremental-corpus")
    corpus.mkdir()
    shutil.copyfile(args.corpus, corpus / "corpus.jsonl")
    shutil.copyfile(article, corpus / article.name)
    print(f"  index {source} ({args.backend}); new article {article.name}; full build {full_s:.1f} s", flush=True)
    rag = str(Path(sys.executable).parent / "rag")
    env = {**os.environ, "RAG_EMBED_BACKEND": args.backend}
    walls, summaries = [], []
    for _ in range(args.repeat):
        target = fresh_dir(WORK / "incremental-index")
        shutil.copytree(source, target)
        t0 = time.perf_counter()
        out = subprocess.run(
            [rag, "index", "--corpus", str(corpus), "--index-dir", str(target), "--json"],
            capture_output=True, text=True, env=env, check=True,
        )  # fmt: skip
        walls.append(time.perf_counter() - t0)
        summaries.append(json.loads(out.stdout))
        assert summaries[-1]["added"] == 1, summaries[-1]
    target = fresh_dir(WORK / "incremental-index")
    shutil.copytree(source, target)
    t0 = time.time()
    out = subprocess.run(
        [sys.executable, "-c", _STAGES, str(target), str(corpus), args.backend],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    stages = json.loads(out.stdout.strip().splitlines()[-1])
    startup = stages["t_start"] - t0
    wall = statistics.median(walls)
    share = wall / full_s
    print(f"  rag index, one new article: {wall:.2f} s median of {walls} = {share:.2%} of the full build (target < 3%)")
    print(f"  where it goes (one instrumented run, {stages['embedded']} chunks embedded):")
    print(f"    interpreter start      {startup:6.2f} s")
    print(f"    imports                {stages['imports']:6.2f} s")
    for name, sec in sorted(stages["stages"].items(), key=lambda kv: -kv[1]):
        print(f"    {name:<22} {sec:6.2f} s")
    results = {
        "backend": args.backend,
        "index": str(source),
        "new_article": article.name,
        "embedded_chunks": stages["embedded"],
        "wall_s": [round(w, 2) for w in walls],
        "wall_median_s": round(wall, 2),
        "full_build_s": round(full_s, 2),
        "share_of_full_build": round(share, 4),
        "breakdown_s": {"interpreter start": round(startup, 3), "imports": round(stages["imports"], 3)}
        | {k: round(v, 3) for k, v in stages["stages"].items()},
    }
    save("incremental", info, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
