"""Scoring MultiHop-RAG queries: retrieval metrics as the benchmark defines them, plus answer checks.

Retrieval (Tang & Yang 2024, their `retrieval_evaluate.py`), over non-null queries and the top 10 chunks,
with spaces and newlines removed from both the gold `fact` and the chunk text before the substring test:
    Hits@k         share of queries with at least one gold fact inside one of the top k chunks
    MRR@10         mean of 1/rank of the first chunk holding any gold fact (0 when none does)
Added here, because a multi-hop answer needs every piece of evidence:
    AllFacts@10    share of queries with every gold fact inside the top 10 chunks
    FactRecall@10  mean share of a query's gold facts found in the top 10 chunks
Answers (through `Pipeline.ask`, the full answer path), beside the same figures for "the top 4 retrieved
passages shown as they are" (the baseline an answerer has to beat):
    entity         inference queries: the gold answer, case- and space-insensitive, is in the answer or its quotes
    precision      per answer with citations: share of citations whose article is one of the gold evidence URLs
    coverage       per non-null query: share of its distinct gold evidence URLs cited at least once
    null refused   share of `null_query` questions refused; false refused: share of the others refused
    chars, cited   median answer length (characters of the text) and citation count, over answered questions
AnswerFound (kept from earlier reports): for gold answers other than yes/no, the gold answer is in the answer.

`run_cli` is the `rag eval FILE` entry point for this format; the functions above it are pure so tests can
check them on hand-made cases.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from rag.pipeline import Pipeline
from rag.types import Answer, Citation, Hit

K = 10  # the benchmark scores the top 10 retrieved chunks
BASELINE_PASSAGES = 4  # the baseline answer: the top 4 retrieved passages, whole
NULL_TYPE = "null_query"
INFERENCE_TYPE = "inference_query"
_YES_NO = {"yes", "no"}


def squash(text: str) -> str:
    """The benchmark's normalisation before a substring test: spaces and newlines removed."""
    return text.replace(" ", "").replace("\n", "")


def fact_ranks(facts: Sequence[str], chunks: Sequence[str], k: int = K) -> list[int | None]:
    """For each fact, the 1-based rank of the first of the top `k` chunks that contains it (None if none)."""
    squashed = [squash(c) for c in chunks[:k]]
    ranks: list[int | None] = []
    for fact in facts:
        f = squash(fact)
        ranks.append(next((i for i, c in enumerate(squashed, start=1) if f and f in c), None))
    return ranks


@dataclass(frozen=True, slots=True)
class RetrievalScore:
    """The retrieval metrics of one query."""

    hits4: float
    hits10: float
    rr: float  # reciprocal rank of the first chunk holding any gold fact
    all_facts: float
    fact_recall: float


def score_retrieval(facts: Sequence[str], chunks: Sequence[str]) -> RetrievalScore:
    """Hits@4, Hits@10, reciprocal rank, all-facts and fact recall of one query's top chunks."""
    ranks = fact_ranks(facts, chunks)
    found = [r for r in ranks if r is not None]
    first = min(found, default=None)
    return RetrievalScore(
        hits4=float(first is not None and first <= 4),
        hits10=float(first is not None),
        rr=1.0 / first if first else 0.0,
        all_facts=float(bool(facts) and len(found) == len(facts)),
        fact_recall=len(found) / len(facts) if facts else 0.0,
    )


def is_yes_no(gold: str) -> bool:
    return gold.strip().rstrip(".").strip().casefold() in _YES_NO


def answer_contains(gold: str, answer: Answer) -> bool:
    """Whether the gold answer (case-insensitive, final period dropped) is in the answer text or its quotes."""
    needle = " ".join(gold.strip().rstrip(".").split()).casefold()
    hay = " ".join(answer.cited_text.split()).casefold()
    return bool(needle) and needle in hay


def _squashed(text: str) -> str:
    return squash(" ".join(text.split())).casefold()


@dataclass(frozen=True, slots=True)
class AnswerScore:
    """The answer metrics of one answer to one query (see the module docstring)."""

    refused: bool
    entity: bool | None  # inference queries only
    precision: float | None  # None when nothing is cited
    coverage: float | None  # None for null queries
    chars: int
    citations: int


def score_answer(row: dict[str, Any], answer: Answer) -> AnswerScore:
    """Score one answer against one MultiHop-RAG query record (its `type`, `answer` and `evidence`)."""
    qtype = row.get("type", "")
    gold_urls = {e["url"] for e in row.get("evidence", []) if e.get("url")}
    cited = [c.url for c in answer.citations]
    entity = None
    if qtype == INFERENCE_TYPE and str(row.get("answer", "")).strip():
        needle = _squashed(str(row["answer"]).strip().rstrip("."))
        hay = _squashed(answer.cited_text)
        entity = bool(needle) and needle in hay
    precision = sum(u in gold_urls for u in cited) / len(cited) if cited else None
    coverage = len(gold_urls & set(cited)) / len(gold_urls) if qtype != NULL_TYPE and gold_urls else None
    return AnswerScore(answer.refused, entity, precision, coverage, len(answer.text), len(answer.citations))


def passages_answer(question: str, hits: Sequence[Hit], n: int = BASELINE_PASSAGES) -> Answer:
    """The baseline: the top `n` passages shown whole, one citation each, never a refusal."""
    citations = [
        Citation(i, h.article.outlet, h.article.title, h.article.published, h.article.url, h.article.id,
                 h.chunk.text, h.chunk.start, h.chunk.end, h.chunk.id)
        for i, h in enumerate(hits[:n], start=1)
    ]  # fmt: skip
    text = "\n".join(f"{c.outlet}: {c.quote} [{c.n}]" for c in citations)
    return Answer(question=question, text=text, citations=citations, refused=False, answerer="top-passages")


@dataclass(slots=True)
class Item:
    """One scored query."""

    question: str
    type: str
    gold: str
    n_facts: int
    retrieval: RetrievalScore | None  # None for null queries (no evidence)
    refused: bool | None = None  # None when answers were not scored
    answer_found: bool | None = None  # None for yes/no and null queries
    answer: AnswerScore | None = None  # the answer's metrics, when answers were scored
    baseline: AnswerScore | None = None  # the same for the top passages shown as they are
    retrieve_seconds: float = 0.0
    answer_seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def row(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "type": self.type,
            "gold": self.gold,
            "facts": self.n_facts,
            **({k: getattr(self.retrieval, k) for k in RetrievalScore.__slots__} if self.retrieval else {}),
            "refused": self.refused,
            "answer_found": self.answer_found,
            **({f"answer_{k}": getattr(self.answer, k) for k in AnswerScore.__slots__} if self.answer else {}),
            "retrieve_ms": round(self.retrieve_seconds * 1000, 2),
            "answer_ms": round(self.answer_seconds * 1000, 2),
            "notes": self.notes,
        }


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 4) if values else None


def summarise(items: Sequence[Item]) -> dict[str, Any]:
    """Metrics over `items`: retrieval over the non-null ones, refusals and answer matches where scored."""
    scored = [i.retrieval for i in items if i.retrieval is not None]
    answered = [i for i in items if i.refused is not None]
    nulls = [i for i in answered if i.type == NULL_TYPE]
    others = [i for i in answered if i.type != NULL_TYPE]
    found = [i.answer_found for i in others if i.answer_found is not None]
    out: dict[str, Any] = {"queries": len(items), "scored": len(scored)}
    for name in RetrievalScore.__slots__:
        out[name] = _mean([getattr(s, name) for s in scored])
    out["null_refusal"] = _mean([float(bool(i.refused)) for i in nulls])
    out["false_refusal"] = _mean([float(bool(i.refused)) for i in others])
    out["answer_found"] = _mean([float(f) for f in found])
    out["answer_found_n"] = len(found)
    out["answers"] = summarise_answers([i.answer for i in items if i.answer is not None])
    out["baseline"] = summarise_answers([i.baseline for i in items if i.baseline is not None])
    return out


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None


def summarise_answers(scores: Sequence[AnswerScore]) -> dict[str, Any]:
    """The answer metrics over many answers (the refusal rates are `summarise`'s, over the query types)."""
    answered = [s for s in scores if not s.refused]
    return {
        "entity": _mean([float(s.entity) for s in scores if s.entity is not None]),
        "precision": _mean([s.precision for s in scores if s.precision is not None]),
        "coverage": _mean([s.coverage for s in scores if s.coverage is not None]),
        "median_chars": _median([float(s.chars) for s in answered]),
        "median_citations": _median([float(s.citations) for s in answered]),
        "n": len(scores),
    }


def by_type(items: Sequence[Item]) -> dict[str, dict[str, Any]]:
    """`summarise` per question type, plus "overall"."""
    types = sorted({i.type for i in items})
    out = {t: summarise([i for i in items if i.type == t]) for t in types}
    out["overall"] = summarise(items)
    return out


# -- running -----------------------------------------------------------------------------------------


def evaluate(
    pipeline: Pipeline, rows: Sequence[dict[str, Any]], answers: bool = True, progress: bool = False
) -> list[Item]:
    """Retrieve the top 10 for every query (and, with `answers`, run `pipeline.ask`) and score each."""
    items: list[Item] = []
    for n, row in enumerate(rows, start=1):
        question = row["question"]
        facts = [e["fact"] for e in row.get("evidence", [])]
        t0 = time.perf_counter()
        query = pipeline.search_query(question)
        hits = pipeline.retrieve(query, k=K)
        seconds = time.perf_counter() - t0
        qtype = row.get("type", "")
        item = Item(
            question=question,
            type=qtype,
            gold=str(row.get("answer", "")),
            n_facts=len(facts),
            retrieval=score_retrieval(facts, [h.chunk.text for h in hits]) if facts else None,
            retrieve_seconds=seconds,
            notes=list(query.notes),
        )
        if answers:
            # Timed as a question asked for the first time: the retrieval above must not have embedded it.
            forget = getattr(pipeline.retriever.embedder, "forget_queries", None)
            if forget is not None:
                forget()
            t0 = time.perf_counter()
            answer = pipeline.ask(question)
            item.answer_seconds = time.perf_counter() - t0
            item.refused = answer.refused
            item.answer = score_answer(row, answer)
            item.baseline = score_answer(row, passages_answer(question, hits))
            if qtype != NULL_TYPE and item.gold and not is_yes_no(item.gold):
                item.answer_found = answer_contains(item.gold, answer)
        items.append(item)
        if progress and n % 50 == 0:
            print(f"rag: {n}/{len(rows)} queries scored", file=sys.stderr, flush=True)
    return items


def split_half(rows: Sequence[dict[str, Any]], half: str) -> list[dict[str, Any]]:
    """The even (0, 2, 4…) or odd lines of a query file: the two halves fitted weights are checked on."""
    return list(rows[0 if half == "even" else 1 :: 2])


def chunk_stats(pipeline: Pipeline) -> dict[str, Any]:
    """The chunking the numbers were measured with: configured size/overlap and the real lengths."""
    manifest = pipeline.index.manifest
    lengths = sorted(len(c.text) for c in pipeline.index.chunks.values())
    return {
        "chunk_size": manifest.get("chunk_size"),
        "chunk_overlap": manifest.get("chunk_overlap"),
        "embed_title": manifest.get("embed_title"),
        "chunks": len(lengths),
        "chunk_chars_max": lengths[-1] if lengths else 0,
        "chunk_chars_mean": round(statistics.fmean(lengths), 1) if lengths else 0.0,
    }


_COLUMNS = (
    ("hits4", "Hits@4"),
    ("hits10", "Hits@10"),
    ("rr", "MRR@10"),
    ("all_facts", "AllFacts@10"),
    ("fact_recall", "FactRecall@10"),
    ("null_refusal", "NullRefused"),
    ("false_refusal", "FalseRefused"),
    ("answer_found", "AnswerFound"),
)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def format_table(table: dict[str, dict[str, Any]], chunks: dict[str, Any]) -> str:
    """The human-readable report: one line per question type and one overall."""
    head = f"{'type':<18}{'n':>5}" + "".join(f"{label:>14}" for _, label in _COLUMNS)
    lines = [head, "-" * len(head)]
    for name, s in table.items():
        lines.append(f"{name:<18}{s['queries']:>5}" + "".join(f"{_fmt(s[key]):>14}" for key, _ in _COLUMNS))
    lines.append(
        f"\nChunks: size {chunks['chunk_size']} chars (overlap {chunks['chunk_overlap']}, title embedded: "
        f"{chunks['embed_title']}); {chunks['chunks']} chunks, longest {chunks['chunk_chars_max']} chars, "
        f"mean {chunks['chunk_chars_mean']}."
    )
    lines.append(
        "Retrieval metrics over non-null queries, top 10 chunks; NullRefused on null_query, FalseRefused on the "
        "others; AnswerFound on gold answers other than yes/no."
    )
    lines.append("\n" + format_answers(table["overall"]))
    return "\n".join(lines)


def format_answers(overall: dict[str, Any]) -> str:
    """The answer table: the answerer's row and the top-passages baseline's (refusals: the answerer's only)."""
    head = f"{'answers':<22}" + "".join(
        f"{h:>12}" for h in ("entity", "precision", "coverage", "NullRef", "FalseRef", "chars", "cited")
    )
    rows = [head, "-" * len(head)]
    for label, key, refusals in (
        (f"rag ask ({overall.get('answerer', 'answerer')})", "answers", True),
        (f"top {BASELINE_PASSAGES} passages", "baseline", False),
    ):
        a = overall[key]
        if not a["n"]:
            continue
        refused = [overall["null_refusal"], overall["false_refusal"]] if refusals else [None, None]
        values = [a["entity"], a["precision"], a["coverage"], *refused]
        size = [a["median_chars"], a["median_citations"]]
        rows.append(
            f"{label:<22}" + "".join(f"{_fmt(v):>12}" for v in values) + "".join(f"{_fmt1(v):>12}" for v in size)
        )
    rows.append(
        "entity: inference queries whose gold answer is in the answer; precision: cited articles among the gold "
        "evidence; coverage: gold evidence articles cited; chars, cited: medians over answered questions."
    )
    return "\n".join(rows)


def _fmt1(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def run_cli(pipeline: Pipeline, rows: list[dict[str, Any]], args: argparse.Namespace) -> int:
    """`rag eval FILE` for MultiHop-RAG query files: print the table (or one JSON object with `--json`)."""
    if getattr(args, "half", None):
        rows = split_half(rows, args.half)
    if getattr(args, "limit", None):
        rows = rows[: args.limit]
    t0 = time.perf_counter()
    items = evaluate(pipeline, rows, answers=True, progress=True)
    table = by_type(items)
    table["overall"]["answerer"] = pipeline.answerer.name
    chunks = chunk_stats(pipeline)
    times = [i.retrieve_seconds for i in items]
    answer_times = [i.answer_seconds for i in items]
    timing = {
        "seconds": round(time.perf_counter() - t0, 2),
        "retrieve_median_ms": round(statistics.median(times) * 1000, 2) if times else 0.0,
        "answer_median_ms": round(statistics.median(answer_times) * 1000, 2) if answer_times else 0.0,
    }
    if args.json:
        out = {"chunks": chunks, "by_type": table, "timing": timing, "items": [i.row() for i in items]}
        print(json.dumps(out, ensure_ascii=False), flush=True)
    else:
        print(format_table(table, chunks))
        print(
            f"{len(items)} queries in {timing['seconds']:.0f} s; median retrieval "
            f"{timing['retrieve_median_ms']:.1f} ms, median answer (retrieval included) "
            f"{timing['answer_median_ms']:.1f} ms."
        )
    return 0
