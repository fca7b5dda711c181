"""Conversations end to end: real index, real model, real answers, scored the way `rag eval` scores them.

- The shared dev dialogues: every follow-up answered with its facts and an expected outlet.
- Our dialogues (tests/fixtures/dialogues/, format in its README) on the seed articles and on MultiHop-RAG
  articles: every follow-up passes except the turns marked `known_gap` (each says why; docs/evaluation.md,
  "Conversation", has the numbers), and every self-contained question after a topic change passes, is
  searched exactly as asked and scores as it does asked alone.
- `rag ask --json` on JSON Lines carries each conversation by its `conversation` id, and only within it.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from rag import cli
from rag.config import Settings
from rag.evaluation import ItemResult, evaluate_seed_format, read_jsonl
from rag.pipeline import Pipeline

pytestmark = pytest.mark.slow

DIALOGUES = Path(__file__).resolve().parents[1] / "fixtures" / "dialogues"
EVAL = Path(__file__).resolve().parents[3] / "shared" / "eval"
MULTIHOP_CORPUS = EVAL / "multihop_rag" / "corpus.jsonl"


def _turns(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {f"{r['id']}.{i}": t for r in rows for i, t in enumerate(r["turns"], start=1)}


def _check(rows: list[dict[str, Any]], items: list[ItemResult]) -> None:
    turns = _turns(rows)
    failed = [(i.id, i.question, i.search_query, i.cited_outlets) for i in items if not i.passed]
    missed = [f for f in failed if f[0] in turns and not turns[f[0]].get("known_gap") and f[0].split(".")[1] != "1"]
    assert missed == [], f"follow-ups or topic changes that failed: {missed}"
    for i in items:
        if i.topic_change:
            assert i.search_query == i.question, f"{i.id} was searched with earlier turns: {i.search_query}"
            assert i.passed == i.alone_passed, f"{i.id} scores differently alone"


def test_dev_dialogues_every_follow_up_passes(seed_pipeline: Pipeline) -> None:
    rows = read_jsonl(EVAL / "seeds_dialogues_dev.jsonl")
    report = evaluate_seed_format(seed_pipeline, rows, standalone=False)
    follow_ups = [i for i in report.items if i.follow_up]
    assert follow_ups and all(i.passed for i in follow_ups), [(i.id, i.search_query) for i in follow_ups]
    assert all(i.search_query != i.question for i in follow_ups)  # each leaned on its history


def test_seed_dialogues(seed_pipeline: Pipeline) -> None:
    rows = read_jsonl(DIALOGUES / "seeds_dialogues.jsonl")
    report = evaluate_seed_format(seed_pipeline, rows, standalone=False)
    assert all(i.passed for i in report.items if i.id.endswith(".1")), "a dialogue's opening question failed"
    _check(rows, report.items)
    summary = report.summary()
    assert summary["topic_changes"] >= 5 and summary["topic_changes_rewritten"] == 0


@pytest.fixture(scope="session")
def multihop_pipeline(tmp_path_factory: pytest.TempPathFactory) -> Pipeline:
    """A real index of the MultiHop-RAG articles the dialogues are about (15 articles, built once)."""
    from rag.indexer import update_index

    if not MULTIHOP_CORPUS.exists():
        pytest.skip(f"{MULTIHOP_CORPUS} is not available")
    wanted = {
        line.strip()
        for line in (DIALOGUES / "multihop_articles.txt").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    lines = [
        line
        for line in MULTIHOP_CORPUS.read_text(encoding="utf-8").splitlines()
        if line.strip() and json.loads(line)["url"] in wanted
    ]
    assert len(lines) == len(wanted)
    base = tmp_path_factory.mktemp("multihop-dialogues")
    (base / "corpus").mkdir()
    (base / "corpus" / "articles.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    settings = Settings(index_dir=base / "index", corpus_dir=base / "corpus")
    update_index(settings)
    return Pipeline(settings)


def test_multihop_dialogues(multihop_pipeline: Pipeline) -> None:
    rows = read_jsonl(DIALOGUES / "multihop_dialogues.jsonl")
    report = evaluate_seed_format(multihop_pipeline, rows, standalone=False)
    assert all(i.passed for i in report.items if i.id.endswith(".1")), "a dialogue's opening question failed"
    _check(rows, report.items)


def test_cli_json_lines_carry_each_conversation_by_its_id(
    seed_index: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    requests = [
        {"id": "a1", "conversation": "A", "question": "Who is Ryan Berg?"},
        {"id": "b1", "conversation": "B", "question": "Which medal did Pete Hegseth restore?"},
        {"id": "a2", "conversation": "A", "question": "What did he say the goal of the gathering was?"},
        {"id": "b2", "conversation": "B", "question": "What is it emblazoned with?"},
        {"id": "n1", "question": "What did he say the goal of the gathering was?"},  # no conversation: alone
        {"id": "c1", "conversation": "C", "question": "What did he say the goal of the gathering was?"},
    ]
    stdin = io.StringIO("".join(json.dumps(r) + "\n" for r in requests))
    monkeypatch.setattr("sys.stdin", stdin)
    assert cli.main(["ask", "--json", "--index-dir", str(seed_index.index_dir)]) == cli.EXIT_OK
    out = {o["id"]: o for o in map(json.loads, capsys.readouterr().out.splitlines())}
    assert set(out) == {r["id"] for r in requests}

    assert "Ryan Berg" in out["a2"]["search_query"] and "Hegseth" not in out["a2"]["search_query"]
    assert "like-minded" in (out["a2"]["answer"] + " ".join(c["quote"] for c in out["a2"]["citations"]))
    assert "medal" in out["b2"]["search_query"].lower() and "Berg" not in out["b2"]["search_query"]
    assert "Roman sword" in out["b2"]["answer"]
    # A question outside any conversation, or opening a new one, has nothing to lean on: searched as asked.
    assert out["n1"]["search_query"] == requests[4]["question"]
    assert out["c1"]["search_query"] == requests[5]["question"]
    # The first turn of each conversation is searched as asked, too.
    assert out["a1"]["search_query"] == "Who is Ryan Berg?"


def test_other_outlets_follow_up_cites_other_outlets(seed_pipeline: Pipeline) -> None:
    from rag.types import Turn

    first = seed_pipeline.ask("What did Dawn report Stephen Miller said about defeating cartels?")
    assert "Dawn" in {c.outlet for c in first.citations}
    second = seed_pipeline.ask("And the other outlets?", history=[Turn.from_answer(first)])
    assert not second.refused and second.citations
    assert "Dawn" not in {c.outlet for c in second.citations}
    assert second.question == "And the other outlets?"
    assert second.filters["outlets"] and "Dawn" not in second.filters["outlets"]
    assert "Stephen Miller" in second.search_query

    # Asked after a question that names no outlet, "the other outlets" are those the answer did not cite.
    third = seed_pipeline.ask("What did Hegseth say the boat strikes were meant to establish?")
    cited = {c.outlet for c in third.citations}
    fourth = seed_pipeline.ask("What do other outlets say?", history=[Turn.from_answer(third)])
    assert cited and fourth.filters["outlets"] and not cited & set(fourth.filters["outlets"])
    assert not cited & {c.outlet for c in fourth.citations}


def test_other_outlets_that_lack_the_topic_are_named_not_blamed_on_filters(seed_pipeline: Pipeline) -> None:
    from rag.types import Turn
    from rag.ui import render

    # A first answer that quoted every outlet mentioning Miller (their own sentences; which of them an answer
    # quotes is the selection's business, tested elsewhere: here it is the message about the outlets left).
    question = "What did Stephen Miller say about defeating cartels?"
    said = (
        "Dawn: MIAMI: White House official Stephen Miller told a gathering of Latin American military leaders on "
        "Thursday that drug cartels can only be defeated with military force. [1]\n"
        "Al Jazeera: Miller further maintained there is no “criminal justice solution” to drug cartels, which he "
        "likened to armed groups like al-Qaeda and ISIL (ISIS). [2]\n"
        "TC Sentinel: Deputy White House Chief of Staff Stephen Miller, a key architect of the administration's "
        "Latin America strategy, addressed the conference alongside Hegseth and drew sharp comparisons between "
        "Western Hemisphere cartels and designated terrorist groups. [3]"
    )
    first = Turn(question, said, question, ("Dawn", "Al Jazeera", "TC Sentinel"))
    second = seed_pipeline.ask("And what did the other outlets report?", history=[first])
    assert second.refused and second.text == "Evrim Ağacı and Truthout do not mention Stephen Miller."
    assert not render.user_filtered(second)
    assert "Filters are on" not in render.refusal_html(second, render.user_filtered(second))


def test_other_outlets_that_never_name_the_person_say_so_before_their_quotes(seed_pipeline: Pipeline) -> None:
    from rag.types import Turn

    # Truthout and Evrim Ağacı are the seed outlets that name Sheinbaum; the other three never do.
    question = "What did Sheinbaum say about US troops in Mexico?"
    said = (
        "Truthout: Mexican President Claudia Sheinbaum quickly condemned the report, saying that she would not "
        "allow the U.S. to deploy troops in Mexico. [1]\n"
        "Evrim Ağacı: After a meeting between Rubio and Mexican President Claudia Sheinbaum, both countries agreed "
        "to expand cooperation against the cartels while reaffirming respect for each other's sovereignty. [2]"
    )
    first = Turn(question, said, question, ("Truthout", "Evrim Ağacı"))
    second = seed_pipeline.ask("And what did the other outlets report?", history=[first])
    assert not second.refused and second.filters["narrowed"]
    assert {c.outlet for c in second.citations} <= {"Al Jazeera", "Dawn", "TC Sentinel"}
    lacking = second.text.split("\n", 1)[0]
    assert lacking.endswith("but not Sheinbaum. Their passages closest to the question:")
    assert lacking.startswith("Al Jazeera, Dawn and TC Sentinel mention")
