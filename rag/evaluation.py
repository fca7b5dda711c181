"""Scoring question files: the seed dev format (single questions and dialogues).

Seed format (see ../shared/eval/README.md): `expect_facts` must all appear (case-insensitive) in the answer
or its quoted passages (one is enough with `any_fact`), at least one of `expect_outlets` must be cited, and
`answerable: false` questions must be refused with no citation. Dialogues (`turns`) are asked in order in
one conversation, each turn scored like a single question. A turn marked `"topic_change": true` is a
self-contained question (a new topic, or one restated in full): it is also asked alone, without the
conversation, and the summary counts whether it scores the same both ways (earlier turns must not pollute
it). Every other turn after the first is a follow-up; when it carries a hand-written `"standalone"` rewrite,
that rewrite is also asked alone (`oracle_passed`), which tells a resolver miss (the rewrite passes, the
follow-up does not) from a question the answerer misses however it is asked.

Dialogue files may label their turns and dialogues (`eval/README.md`): a dialogue's `"split"` ("tune" or
"heldout") says which half it belongs to (`select_split` keeps one half), and a later turn's `"kind"` says how it
leans on the conversation (`FOLLOW_UP_KINDS`, or "topic_change", which counts as `"topic_change": true`). The
summary then counts passes per kind and per split; `check_dialogues` lists what is malformed in such a file.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rag.pipeline import Pipeline
from rag.types import Answer, Turn

FOLLOW_UP_KINDS = ("pronoun", "ellipsis", "others", "outlet", "wh")  # how a follow-up leans on earlier turns
TOPIC_CHANGE = "topic_change"
TURN_KINDS = (*FOLLOW_UP_KINDS, TOPIC_CHANGE)
SPLITS = ("tune", "heldout")
FIRST, UNLABELLED = "first", "unlabelled"  # the kind reported for a dialogue's opening turn / a turn without one


@dataclass
class ItemResult:
    """One scored question (or one dialogue turn)."""

    id: str
    question: str
    answerable: bool
    refused: bool
    facts_ok: bool
    outlet_ok: bool
    passed: bool
    search_query: str
    cited_outlets: list[str]
    seconds: float
    follow_up: bool = False  # a dialogue turn after the first that leans on earlier turns
    topic_change: bool = False  # a self-contained dialogue turn after the first (new topic)
    rewritten: bool = False  # searched with words from earlier turns (search_query differs from the question)
    alone_passed: bool | None = None  # topic changes: the score when asked without the conversation
    oracle_passed: bool | None = None  # follow-ups with a hand-written "standalone" rewrite: its score alone
    kind: str = ""  # dialogue turns: FIRST, one of TURN_KINDS, or UNLABELLED; "" for a single question
    split: str = ""  # the dialogue's (or question's) "split" field, "" without one

    def row(self) -> dict[str, Any]:
        return self.__dict__.copy()


@dataclass
class Report:
    items: list[ItemResult] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        ans = [i for i in self.items if i.answerable]
        una = [i for i in self.items if not i.answerable]
        follow = [i for i in ans if i.follow_up]
        changes = [i for i in self.items if i.topic_change]
        times = sorted(i.seconds for i in self.items)
        return {
            "questions": len(self.items),
            "answerable_passed": sum(i.passed for i in ans),
            "answerable": len(ans),
            "facts_ok": sum(i.facts_ok for i in ans),
            "outlet_ok": sum(i.outlet_ok for i in ans),
            "false_refusals": sum(i.refused for i in ans),
            "unanswerable_refused": sum(i.refused for i in una),
            "unanswerable": len(una),
            "follow_up_passed": sum(i.passed for i in follow),
            "follow_ups": len(follow),
            "follow_ups_rewritten": sum(i.rewritten for i in follow),
            "topic_changes": len(changes),
            "topic_change_passed": sum(i.passed for i in changes),
            "topic_change_alone_passed": sum(bool(i.alone_passed) for i in changes),
            "topic_change_same_as_alone": sum(i.passed == i.alone_passed for i in changes),
            "topic_changes_rewritten": sum(i.rewritten for i in changes),
            "follow_ups_with_standalone": sum(i.oracle_passed is not None for i in follow),
            "standalone_passed": sum(bool(i.oracle_passed) for i in follow),
            "median_seconds": round(times[len(times) // 2], 4) if times else 0.0,
            "by_kind": by_kind(self.items),
            "by_split": by_split(self.items),
        }


def _later_turns(items: Iterable[ItemResult]) -> list[ItemResult]:
    """The dialogue turns after the first, counted as `Report.summary` counts them: answerable follow-ups, and
    every topic change."""
    return [i for i in items if (i.follow_up and i.answerable) or i.topic_change]


def by_kind(items: Iterable[ItemResult]) -> dict[str, dict[str, int]]:
    """Passes per kind of later turn ({kind: {"passed", "turns"}}), the known kinds first, in TURN_KINDS order."""
    later = _later_turns(items)
    order = {k: n for n, k in enumerate(TURN_KINDS)}
    kinds = sorted({i.kind for i in later}, key=lambda k: (order.get(k, len(order)), k))
    mine = {k: [i for i in later if i.kind == k] for k in kinds}
    return {k: {"passed": sum(i.passed for i in turns), "turns": len(turns)} for k, turns in mine.items()}


def by_split(items: Iterable[ItemResult]) -> dict[str, dict[str, Any]]:
    """Follow-up and topic-change passes per split, each with its own `by_kind`; {} when no item has a split."""
    later = [i for i in _later_turns(items) if i.split]
    out: dict[str, dict[str, Any]] = {}
    order = {s: n for n, s in enumerate(SPLITS)}
    for split in sorted({i.split for i in later}, key=lambda s: (order.get(s, len(order)), s)):
        mine = [i for i in later if i.split == split]
        follow = [i for i in mine if i.follow_up]
        changes = [i for i in mine if i.topic_change]
        out[split] = {
            "follow_ups": len(follow),
            "follow_up_passed": sum(i.passed for i in follow),
            "topic_changes": len(changes),
            "topic_change_passed": sum(i.passed for i in changes),
            "by_kind": by_kind(mine),
        }
    return out


def score(
    item: dict[str, Any], answer: Answer, seconds: float, qid: str, follow_up: bool = False, topic_change: bool = False
) -> ItemResult:
    """Score one answer against one question record of the seed format."""
    answerable = item.get("answerable", True)
    haystack = answer.cited_text.casefold()
    facts = [f.casefold() for f in item.get("expect_facts", [])]
    found = [f in haystack for f in facts]
    facts_ok = (any(found) if item.get("any_fact") else all(found)) if facts else True
    cited = [c.outlet for c in answer.citations]
    expected = item.get("expect_outlets", [])
    outlet_ok = (not expected) or any(o in expected for o in cited)
    if answerable:
        passed = not answer.refused and facts_ok and outlet_ok
    else:
        passed = answer.refused and not answer.citations
    return ItemResult(
        id=qid,
        question=item["question"],
        answerable=answerable,
        refused=answer.refused,
        facts_ok=facts_ok,
        outlet_ok=outlet_ok,
        passed=passed,
        search_query=answer.search_query,
        cited_outlets=sorted(set(cited)),
        seconds=seconds,
        follow_up=follow_up,
        topic_change=topic_change,
        rewritten=answer.search_query != item["question"],
    )


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    rows = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{lineno}: invalid JSON ({exc.msg})") from None
    return rows


def select_split(rows: Iterable[dict[str, Any]], split: str) -> list[dict[str, Any]]:
    """The rows (dialogues or questions) whose `"split"` is `split`; rows without one belong to no split."""
    return [r for r in rows if r.get("split") == split]


def is_topic_change(turn: dict[str, Any]) -> bool:
    """A turn marked self-contained, by `"topic_change": true` or by `"kind": "topic_change"`."""
    return bool(turn.get("topic_change")) or turn.get("kind") == TOPIC_CHANGE


def check_dialogues(rows: Iterable[dict[str, Any]]) -> list[str]:
    """What is malformed in a labelled dialogue file (empty when nothing): every row a dialogue with an id, a
    known split and 2–4 turns; every turn a question with expected facts and outlets; the first turn without a
    kind, each later one with a known kind; `topic_change` and `kind` agreeing."""
    problems: list[str] = []
    seen: set[str] = set()
    for n, row in enumerate(rows, start=1):
        rid = str(row.get("id", f"line {n}"))
        if "id" not in row:
            problems.append(f"{rid}: no id")
        elif rid in seen:
            problems.append(f"{rid}: duplicate id")
        seen.add(rid)
        if row.get("split") not in SPLITS:
            problems.append(f"{rid}: split {row.get('split')!r} is not one of {', '.join(SPLITS)}")
        turns = row.get("turns")
        if not isinstance(turns, list) or not 2 <= len(turns) <= 4:
            problems.append(f"{rid}: a dialogue has 2 to 4 turns")
            continue
        for i, turn in enumerate(turns, start=1):
            where = f"{rid}.{i}"
            if not str(turn.get("question", "")).strip():
                problems.append(f"{where}: no question")
            if turn.get("answerable", True) and not (turn.get("expect_facts") and turn.get("expect_outlets")):
                problems.append(f"{where}: an answerable turn needs expect_facts and expect_outlets")
            kind = turn.get("kind")
            if i == 1:
                if kind is not None or turn.get("topic_change"):
                    problems.append(f"{where}: the first turn has no kind")
                continue
            if kind not in TURN_KINDS:
                problems.append(f"{where}: kind {kind!r} is not one of {', '.join(TURN_KINDS)}")
            if "topic_change" in turn and bool(turn["topic_change"]) != (kind == TOPIC_CHANGE):
                problems.append(f"{where}: topic_change and kind disagree")
    return problems


def evaluate_seed_format(pipeline: Pipeline, rows: Iterable[dict[str, Any]], standalone: bool = True) -> Report:
    """Ask every question (and every dialogue turn, in order, with its history) and score the answers.

    `standalone=False` skips asking the hand-written rewrites of follow-ups (a diagnostic, not a score).
    """
    report = Report()
    for row in rows:
        turns = row.get("turns")
        if turns is None:
            t0 = time.perf_counter()
            answer = pipeline.ask(row["question"])
            result = score(row, answer, time.perf_counter() - t0, str(row.get("id", "")))
            result.split = str(row.get("split", ""))
            report.items.append(result)
            continue
        history: list[Turn] = []
        for i, turn in enumerate(turns, start=1):
            t0 = time.perf_counter()
            answer = pipeline.ask(turn["question"], history=history)
            qid = f"{row.get('id', '')}.{i}"
            change = i > 1 and is_topic_change(turn)
            result = score(turn, answer, time.perf_counter() - t0, qid, follow_up=i > 1 and not change)
            result.topic_change = change
            result.kind = FIRST if i == 1 else str(turn.get("kind") or (TOPIC_CHANGE if change else UNLABELLED))
            result.split = str(row.get("split", ""))
            if change:
                result.alone_passed = score(turn, pipeline.ask(turn["question"]), 0.0, qid).passed
            elif i > 1 and standalone and turn.get("standalone"):
                rewrite = turn | {"question": turn["standalone"]}
                result.oracle_passed = score(rewrite, pipeline.ask(turn["standalone"]), 0.0, qid).passed
            report.items.append(result)
            history.append(Turn.from_answer(answer))
    return report


def detect_format(rows: list[dict[str, Any]]) -> str:
    """'multihop' for MultiHop-RAG queries (they carry `evidence`), else 'seed'."""
    return "multihop" if rows and "evidence" in rows[0] else "seed"
