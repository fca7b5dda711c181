"""Labelled dialogue files (eval/, format in eval/README.md) and how `rag eval` reports them.

- `check_dialogues`, `select_split`, the per-kind and per-split counts of `Report.summary`, on a stand-in
  pipeline (no model, no index).
- `rag eval --split` and the summary lines it prints.
- The committed files: well formed, enough turns of every kind, the two halves balanced by kind, and every
  expected fact present in an article of an expected outlet (seed articles; MultiHop-RAG's corpus when the
  shared data is there).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from rag import cli, evaluation
from rag.evaluation import (
    FOLLOW_UP_KINDS,
    SPLITS,
    TURN_KINDS,
    check_dialogues,
    evaluate_seed_format,
    read_jsonl,
    select_split,
)
from rag.types import Answer, Citation, Turn

ROOT = Path(__file__).resolve().parents[2]
EVAL = ROOT / "eval"
FILES = {"seeds": EVAL / "dialogues_seeds.jsonl", "multihop": EVAL / "dialogues_multihop.jsonl"}
#: The clean held-out check (all `heldout`, eval/README.md): well formed and its facts in the articles, too.
FRESH = {
    "seeds": EVAL / "dialogues_fresh_seeds.jsonl",
    "multihop": EVAL / "dialogues_fresh_multihop.jsonl",
    "seeds2": EVAL / "dialogues_fresh2_seeds.jsonl",
    "multihop2": EVAL / "dialogues_fresh2_multihop.jsonl",
    "seeds3": EVAL / "dialogues_fresh3_seeds.jsonl",
    "multihop3": EVAL / "dialogues_fresh3_multihop.jsonl",
    "seeds4": EVAL / "dialogues_fresh4_seeds.jsonl",
    "multihop4": EVAL / "dialogues_fresh4_multihop.jsonl",
    "seeds5": EVAL / "dialogues_fresh5_seeds.jsonl",
    "multihop5": EVAL / "dialogues_fresh5_multihop.jsonl",
    "seeds6": EVAL / "dialogues_fresh6_seeds.jsonl",
    "multihop6": EVAL / "dialogues_fresh6_multihop.jsonl",
    "seeds7": EVAL / "dialogues_fresh7_seeds.jsonl",
    "multihop7": EVAL / "dialogues_fresh7_multihop.jsonl",
    "seeds8": EVAL / "dialogues_fresh8_seeds.jsonl",
    "multihop8": EVAL / "dialogues_fresh8_multihop.jsonl",
}
MULTIHOP_CORPUS = ROOT.parent / "shared" / "eval" / "multihop_rag" / "corpus.jsonl"


class StandIn:
    """Answers every question with `replies[question]` (text, outlet); anything else is refused."""

    def __init__(self, replies: dict[str, tuple[str, str]]) -> None:
        self.replies = replies
        self.calls: list[tuple[str, int]] = []

    def ask(self, question: str, history: list[Turn] | None = None) -> Answer:
        self.calls.append((question, len(history or [])))
        if question not in self.replies:
            return Answer(question, "The articles in this corpus do not answer that question.", [], True, question)
        text, outlet = self.replies[question]
        cite = Citation(1, outlet, "t", "2026-03-05", "u", "a", text, 0, len(text))
        return Answer(question, f"{outlet}: {text} [1]", [cite], False, question)


def _turn(question: str, fact: str, kind: str | None = None, outlet: str = "Dawn") -> dict[str, Any]:
    t: dict[str, Any] = {"question": question, "expect_outlets": [outlet], "expect_facts": [fact]}
    if kind:
        t["kind"] = kind
    return t


ROWS: list[dict[str, Any]] = [
    {
        "id": "a",
        "split": "tune",
        "turns": [
            _turn("Q1", "alpha"),
            _turn("Q2 he?", "beta", "pronoun"),
            _turn("Q3 and X?", "gamma", "ellipsis"),
            _turn("Q4 new", "delta", "topic_change"),
        ],
    },
    {
        "id": "b",
        "split": "heldout",
        "turns": [_turn("R1", "alpha"), _turn("R2 others?", "beta", "others"), _turn("R3 why?", "gamma", "wh")],
    },
]
REPLIES = {
    "Q1": ("alpha", "Dawn"),
    "Q2 he?": ("beta", "Dawn"),
    "Q3 and X?": ("wrong", "Dawn"),  # the fact is missing
    "Q4 new": ("delta", "Dawn"),
    "R1": ("alpha", "Dawn"),
    "R2 others?": ("beta", "Truthout"),  # the wrong outlet
    "R3 why?": ("gamma", "Dawn"),
}


# -- the evaluator ------------------------------------------------------------------------------------------


def test_kinds_and_splits_are_counted() -> None:
    report = evaluate_seed_format(StandIn(REPLIES), ROWS)  # type: ignore[arg-type]
    kinds = {i.id: i.kind for i in report.items}
    assert kinds == {
        "a.1": "first",
        "a.2": "pronoun",
        "a.3": "ellipsis",
        "a.4": "topic_change",
        "b.1": "first",
        "b.2": "others",
        "b.3": "wh",
    }
    assert {i.id: i.split for i in report.items}["b.3"] == "heldout"
    summary = report.summary()
    assert summary["follow_ups"] == 4 and summary["follow_up_passed"] == 2
    # `"kind": "topic_change"` alone marks a topic change: asked alone too, and not a follow-up
    assert summary["topic_changes"] == 1 and summary["topic_change_passed"] == 1
    assert summary["topic_change_alone_passed"] == 1
    assert summary["by_kind"] == {
        "pronoun": {"passed": 1, "turns": 1},
        "ellipsis": {"passed": 0, "turns": 1},
        "others": {"passed": 0, "turns": 1},
        "wh": {"passed": 1, "turns": 1},
        "topic_change": {"passed": 1, "turns": 1},
    }
    assert list(summary["by_kind"]) == [k for k in TURN_KINDS if k in summary["by_kind"]]  # in TURN_KINDS order
    tune, heldout = summary["by_split"]["tune"], summary["by_split"]["heldout"]
    assert (tune["follow_up_passed"], tune["follow_ups"], tune["topic_change_passed"], tune["topic_changes"]) == (
        1,
        2,
        1,
        1,
    )
    assert (heldout["follow_up_passed"], heldout["follow_ups"], heldout["topic_changes"]) == (1, 2, 0)
    assert heldout["by_kind"] == {"others": {"passed": 0, "turns": 1}, "wh": {"passed": 1, "turns": 1}}


def test_unlabelled_dialogues_report_as_before() -> None:
    row = {
        "id": "c",
        "turns": [
            _turn("Q1", "alpha"),
            _turn("Q2 he?", "beta"),
            {**_turn("Q4 new", "delta"), "topic_change": True},
        ],
    }
    summary = evaluate_seed_format(StandIn(REPLIES), [row]).summary()  # type: ignore[arg-type]
    assert summary["by_kind"] == {"topic_change": {"passed": 1, "turns": 1}, "unlabelled": {"passed": 1, "turns": 1}}
    assert summary["by_split"] == {}
    assert summary["follow_ups"] == 1 and summary["topic_changes"] == 1


def test_single_questions_have_no_kind() -> None:
    rows = [{"id": "q1", "question": "Q1", "expect_facts": ["alpha"], "expect_outlets": ["Dawn"], "split": "tune"}]
    report = evaluate_seed_format(StandIn(REPLIES), rows)  # type: ignore[arg-type]
    assert report.items[0].kind == "" and report.items[0].split == "tune"
    assert report.summary()["by_kind"] == {} and report.summary()["by_split"] == {}


def test_select_split() -> None:
    assert [r["id"] for r in select_split(ROWS, "tune")] == ["a"]
    assert [r["id"] for r in select_split(ROWS, "heldout")] == ["b"]
    assert select_split([{"id": "x", "turns": []}], "tune") == []  # no split field: in neither half


def test_check_dialogues_accepts_well_formed_rows() -> None:
    assert check_dialogues(ROWS) == []


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda r: r.pop("split"), "split None"),
        (lambda r: r.update(split="dev"), "split 'dev'"),
        (lambda r: r.update(turns=r["turns"][:1]), "2 to 4 turns"),
        (lambda r: r["turns"][1].update(kind="anaphora"), "kind 'anaphora'"),
        (lambda r: r["turns"][1].pop("kind"), "kind None"),
        (lambda r: r["turns"][0].update(kind="pronoun"), "first turn has no kind"),
        (lambda r: r["turns"][1].update(topic_change=True), "disagree"),
        (lambda r: r["turns"][2].update(expect_facts=[]), "needs expect_facts"),
        (lambda r: r["turns"][2].update(question=" "), "no question"),
    ],
)
def test_check_dialogues_names_each_problem(change: Any, problem: str) -> None:
    row = json.loads(json.dumps(ROWS[0]))
    change(row)
    problems = check_dialogues([row])
    assert len(problems) == 1 and problem in problems[0], problems


def test_check_dialogues_duplicate_id() -> None:
    assert check_dialogues([ROWS[0], ROWS[0]]) == ["a: duplicate id"]


# -- rag eval --split --------------------------------------------------------------------------------------


def test_cli_eval_split(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in ROWS), encoding="utf-8")
    monkeypatch.setattr("rag.pipeline.Pipeline", lambda settings: StandIn(REPLIES))

    assert cli.main(["eval", str(path), "--split", "heldout", "--index-dir", str(tmp_path)]) == cli.EXIT_OK
    out = capsys.readouterr().out
    assert "b.2" in out and "a.2" not in out
    assert "By kind: others 0/1, wh 1/1" in out
    assert "Split heldout: follow-ups passed 1/2, topic changes passed 0/0; by kind: others 0/1, wh 1/1" in out

    assert cli.main(["eval", str(path), "--json", "--index-dir", str(tmp_path)]) == cli.EXIT_OK
    data = json.loads(capsys.readouterr().out)
    assert set(data["summary"]["by_split"]) == {"tune", "heldout"}
    assert {i["id"]: i["kind"] for i in data["items"]}["a.4"] == "topic_change"

    (tmp_path / "none.jsonl").write_text(json.dumps({"id": "x", "question": "Q1"}) + "\n", encoding="utf-8")
    assert cli.main(["eval", str(tmp_path / "none.jsonl"), "--split", "tune"]) == cli.EXIT_USAGE
    assert "split" in capsys.readouterr().err


# -- the committed dialogue files --------------------------------------------------------------------------


def _later(rows: list[dict[str, Any]], split: str | None = None) -> Counter[str]:
    return Counter(t["kind"] for r in rows if split in (None, r["split"]) for t in r["turns"][1:])


@pytest.mark.parametrize("name", list(FILES))
def test_dialogue_file_is_well_formed(name: str) -> None:
    rows = read_jsonl(FILES[name])
    assert check_dialogues(rows) == []
    kinds = _later(rows)
    assert all(kinds[k] >= 6 for k in FOLLOW_UP_KINDS), kinds  # every kind, in each file
    assert kinds["topic_change"] >= 5
    for kind in TURN_KINDS:  # the halves balanced by kind
        assert abs(_later(rows, "tune")[kind] - _later(rows, "heldout")[kind]) <= 1, kind
    follow = {s: sum(n for k, n in _later(rows, s).items() if k != "topic_change") for s in SPLITS}
    assert abs(follow["tune"] - follow["heldout"]) <= 1, follow


def test_dialogue_files_together() -> None:
    rows = [r for path in FILES.values() for r in read_jsonl(path)]
    kinds = _later(rows)
    assert sum(n for k, n in kinds.items() if k != "topic_change") >= 60
    assert kinds["topic_change"] >= 10
    assert len({r["id"] for r in rows}) == len(rows)


def _check_facts(rows: list[dict[str, Any]], texts: dict[str, list[str]]) -> list[str]:
    """Turns whose facts (all, or one with any_fact) are in no article of an expected outlet."""
    bad = []
    for r in rows:
        for i, t in enumerate(r["turns"], start=1):
            assert set(t["expect_outlets"]) <= set(texts), (r["id"], i, t["expect_outlets"])
            bodies = [b.casefold() for o in t["expect_outlets"] for b in texts[o]]
            found = [any(f.casefold() in b for b in bodies) for f in t["expect_facts"]]
            if not (any(found) if t.get("any_fact") else all(found)):
                bad.append(f"{r['id']}.{i}")
    return bad


def test_seed_dialogue_facts_are_in_the_articles() -> None:
    from rag.ingest import read_corpus

    texts: dict[str, list[str]] = {}
    for a in read_corpus(ROOT / "seeds").articles:
        texts.setdefault(a.outlet, []).append(a.title + "\n" + a.body)
    files = [FILES["seeds"], *(path for name, path in FRESH.items() if name.startswith("seeds"))]
    assert {path.name: _check_facts(read_jsonl(path), texts) for path in files} == {path.name: [] for path in files}


@pytest.mark.skipif(not MULTIHOP_CORPUS.exists(), reason="the shared MultiHop-RAG corpus is not there")
def test_multihop_dialogue_facts_are_in_the_articles() -> None:
    texts: dict[str, list[str]] = {}
    for line in MULTIHOP_CORPUS.read_text(encoding="utf-8").splitlines():
        a = json.loads(line)
        texts.setdefault(a["outlet"], []).append(a["title"] + "\n" + a["body"])
    files = [FILES["multihop"], *(path for name, path in FRESH.items() if name.startswith("multihop"))]
    assert {path.name: _check_facts(read_jsonl(path), texts) for path in files} == {path.name: [] for path in files}


@pytest.mark.parametrize("name", list(FRESH))
def test_fresh_dialogue_file_is_well_formed_and_all_held_out(name: str) -> None:
    rows = read_jsonl(FRESH[name])
    assert check_dialogues(rows) == [] and {r["split"] for r in rows} == {"heldout"}
    every = [r["id"] for path in [*FILES.values(), *FRESH.values()] for r in read_jsonl(path)]
    assert len(set(every)) == len(every)


def test_evaluation_module_exports() -> None:
    assert set(FOLLOW_UP_KINDS) | {"topic_change"} == set(TURN_KINDS)
    assert evaluation.SPLITS == ("tune", "heldout")
