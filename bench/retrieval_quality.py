"""Retrieval ablations on MultiHop-RAG: one loaded index and model, many settings variants, one table.

    .venv/bin/python bench/retrieval_quality.py --index-dir /work/cache/mh-index [--variant NAME ...]

Each variant is a set of `Settings` overrides applied to the loaded retriever (no reload, no re-embedding;
variants that change the indexed text or chunking need their own index, built with `rag index`). Prints a
Markdown table of Hits@4, Hits@10, MRR@10, AllFacts@10 and FactRecall@10 over the non-null dev queries, the
rows docs/evaluation.md's ablation table is made from. Answers are not scored here (see `rag eval`).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rag import multihop, reading  # noqa: E402
from rag.config import get_settings  # noqa: E402
from rag.evaluation import read_jsonl  # noqa: E402
from rag.pipeline import Pipeline  # noqa: E402
from rag.retrieval import Retriever  # noqa: E402

QUERIES = ROOT.parent / "shared" / "eval" / "multihop_rag" / "queries_dev.jsonl"

#: The question-part boundary before parts were split at every "and": a conjunction broke a part only when a
#: new predicate followed ("and is also", "while the").
_PREDICATE_BREAK = re.compile(
    r",\s+(?:and\s+|while\s+|but\s+|whereas\s+)?|\s+(?:and|while|whereas|but)\s+"
    r"(?=(?:is|was|has|had|also|the|a|an|its|their|his|her)\b)|;"
)

#: name → Settings overrides, relative to the defaults in rag/config.py.
VARIANTS: dict[str, dict] = {
    "default": {},
    # The starting point: plain hybrid search as the core shipped it.
    "core: RRF k=60, dense 1 : BM25 1, no analysis, no re-rank": {
        "rrf_k": 60,
        "dense_weight": 1.0,
        "infer_filters": False,
        "rerank_pool": 0,
    },
    "BM25 only": {"dense_weight": 0.0, "infer_filters": False, "rerank_pool": 0},
    "dense only": {"bm25_weight": 0.0, "infer_filters": False, "rerank_pool": 0},
    # One lever off (or changed) at a time, relative to the default.
    "no question analysis (no sub-searches)": {"infer_filters": False},
    "no per-source sub-searches": {"subquery_weight": 0.0},
    "no per-part sub-searches": {"part_weight": 0.0},
    "source sub-searches ignore dates": {"subquery_dates": False},
    "no re-rank": {"rerank_pool": 0},
    "re-rank without sentence match": {"sentence_weight": 0.0},
    "re-rank without coverage (diversity 0)": {"diversity": 0.0},
    "diversity 0.5": {"diversity": 0.5},
    "diversity 0.85": {"diversity": 0.85},
    "re-rank pool 20": {"rerank_pool": 20},
    "re-rank pool 60": {"rerank_pool": 60},
    "no re-rank, cap 2 chunks per article": {"rerank_pool": 0, "max_chunks_per_article": 2},
    "no re-rank, cap 3 chunks per article": {"rerank_pool": 0, "max_chunks_per_article": 3},
    "no outlet name in BM25 text": {"bm25_outlet": False},
    "dense 1 : BM25 1, no outlet name in BM25 text": {"bm25_outlet": False, "dense_weight": 1.0},
    "dense 1 : BM25 1": {"dense_weight": 1.0},
    "dense 0.25 : BM25 1": {"dense_weight": 0.25},
    "RRF k 30": {"rrf_k": 30},
    "RRF k 60": {"rrf_k": 60},
    "RRF k 5": {"rrf_k": 5},
    "candidates 30": {"candidates": 30},
    "candidates 120": {"candidates": 120},
    "sentence weight 0.5": {"sentence_weight": 0.5},
    "sentence weight 2": {"sentence_weight": 2.0},
    "no part-sentence match": {"part_sentence_weight": 0.0},
    "part-sentence weight 0.5": {"part_sentence_weight": 0.5},
    "part-sentence weight 2": {"part_sentence_weight": 2.0},
    # Keys starting with "_" are not settings: they swap a rule of rag/reading.py for the run.
    "parts split at \"and\" only before a new predicate (the earlier rule)": {"_part_break": _PREDICATE_BREAK},
    "the earlier part rule, no part-sentence match": {"_part_break": _PREDICATE_BREAK, "part_sentence_weight": 0.0},
}

_REBUILD_KEYS = {"bm25_outlet"}  # settings read when the retriever is built


class CachedEmbedder:
    """Wraps the embedder so that each distinct query text is embedded once per run (and, with a cache
    file, once across runs): variants that only change fusion or filtering then cost no model time."""

    def __init__(self, inner, path: Path | None) -> None:
        self.inner = inner
        self.path = path
        self.memo: dict[str, np.ndarray] = {}
        if path and path.exists():
            data = np.load(path, allow_pickle=False)
            texts = json.loads(str(data["texts"]))
            self.memo = dict(zip(texts, data["vectors"], strict=True))

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def encode(self, texts, progress=None, batch_size=None) -> np.ndarray:
        todo = [t for t in dict.fromkeys(texts) if t not in self.memo]
        if todo:
            for t, v in zip(todo, self.inner.encode(todo, batch_size=batch_size), strict=True):
                self.memo[t] = v
        return np.vstack([self.memo[t] for t in texts]).astype(np.float32)

    def encode_query(self, text: str) -> np.ndarray:
        return self.encode([text])

    def encode_queries(self, texts) -> np.ndarray:
        return self.encode(list(texts))

    def save(self) -> None:
        if self.path:
            texts = list(self.memo)
            vectors = np.vstack([self.memo[t] for t in texts]) if texts else np.zeros((0, 1), np.float32)
            np.savez(self.path, texts=json.dumps(texts), vectors=vectors)


def run_variant(pipeline: Pipeline, base, overrides: dict, rows: list[dict]) -> dict:
    rules = {k: v for k, v in overrides.items() if k.startswith("_")}
    settings = base.model_copy(update={k: v for k, v in overrides.items() if k not in rules})
    default_break = reading._PART_BREAK
    reading._PART_BREAK = rules.get("_part_break", default_break)
    try:
        return _run(pipeline, settings, rows)
    finally:
        reading._PART_BREAK = default_break


def _run(pipeline: Pipeline, settings, rows: list[dict]) -> dict:
    current = pipeline.retriever
    if any(getattr(settings, key) != getattr(current.settings, key) for key in _REBUILD_KEYS):
        pipeline._retriever = Retriever(current.index, current.embedder, settings)  # keeps the cached embedder
    pipeline.settings = settings
    pipeline.retriever.settings = settings
    t0 = time.perf_counter()
    items = multihop.evaluate(pipeline, rows, answers=False)
    out = multihop.summarise(items)
    out["seconds"] = time.perf_counter() - t0
    out["median_ms"] = statistics.median(i.retrieve_seconds for i in items) * 1000
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index-dir", type=Path, default=None)
    parser.add_argument("--queries", type=Path, default=QUERIES)
    parser.add_argument("--variant", action="append", help="only these variants (repeatable)")
    parser.add_argument("--limit", type=int)
    parser.add_argument("--embed-cache", type=Path, help="an .npz file keeping query vectors between runs")
    args = parser.parse_args()
    base = get_settings()
    if args.index_dir:
        base = base.model_copy(update={"index_dir": args.index_dir})
    rows = [r for r in read_jsonl(args.queries) if r.get("evidence")][: args.limit]
    pipeline = Pipeline(base)
    cached = CachedEmbedder(pipeline.retriever.embedder, args.embed_cache)
    pipeline.retriever.embedder = cached
    chunks = multihop.chunk_stats(pipeline)
    print(
        f"{len(rows)} non-null queries; chunks {chunks['chunk_size']} chars (overlap {chunks['chunk_overlap']}, "
        f"longest {chunks['chunk_chars_max']}); index {pipeline.index_dir}\n"
    )
    print("| variant | Hits@4 | Hits@10 | MRR@10 | AllFacts@10 | FactRecall@10 | median ms |")
    print("|---|---|---|---|---|---|---|")
    for name in args.variant or VARIANTS:
        s = run_variant(pipeline, base, VARIANTS[name], rows)
        print(
            f"| {name} | {s['hits4']:.3f} | {s['hits10']:.3f} | {s['rr']:.3f} | {s['all_facts']:.3f} | "
            f"{s['fact_recall']:.3f} | {s['median_ms']:.1f} |",
            flush=True,
        )
        cached.save()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
