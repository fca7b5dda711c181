"""The CLI contract other tools depend on, checked on the real `rag` script with the real model.

Each model-loading subprocess costs seconds, so each runs once per module (fixtures below) and several tests
read its output: `rag index --json`, `rag ask "Q" --json` with filters, `rag ask --json` and
`rag retrieve --json` on JSON Lines stdin, and `rag eval`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rag.config import Settings
from rag.filters import in_date_range

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
RAG = str(Path(sys.executable).with_name("rag"))
DEV = ROOT.parent / "shared" / "eval" / "seeds_dev.jsonl"
FIXTURES = ROOT / "tests" / "fixtures"

INDEX_KEYS = {"articles", "chunks", "added", "updated", "removed", "unchanged", "seconds"}
ANSWER_KEYS = {"id", "question", "answer", "refused", "citations", "search_query"}
CITATION_KEYS = {"n", "outlet", "title", "published", "url", "article_id", "quote", "start", "end"}
CHUNK_KEYS = {"chunk_id", "article_id", "outlet", "title", "published", "url", "text", "score"}

MILLER = "According to Stephen Miller, what is the only way cartels can be defeated?"
RUBIO = "What did Marco Rubio say about blowing up the boat instead of interdicting it?"
GDP = "What is the GDP of Honduras?"


def rag(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    return subprocess.run(
        [RAG, *args], input=stdin, capture_output=True, text=True, env=env, timeout=600, cwd=ROOT, check=False
    )


def _json_lines(stdout: str) -> list[dict]:
    """Every stdout line is one JSON object (nothing else may be printed there)."""
    lines = stdout.splitlines()
    assert lines, "no output"
    objects = [json.loads(line) for line in lines]
    assert all(isinstance(o, dict) for o in objects)
    return objects


def _jsonl(*rows: dict) -> str:
    return "".join(json.dumps(r) + "\n" for r in rows)


@pytest.fixture(scope="module")
def index_dir(seed_index: Settings, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of the seed index for the read-only commands."""
    path = tmp_path_factory.mktemp("cli") / "index"
    shutil.copytree(seed_index.index_dir, path)
    return path


@pytest.fixture(scope="module")
def index_run(seed_index: Settings, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """`rag index --json` after adding one good article and one empty file to a copy of the seed corpus."""
    base = tmp_path_factory.mktemp("cli-index")
    corpus, index = base / "corpus", base / "index"
    shutil.copytree(seed_index.corpus_dir, corpus)
    shutil.copytree(seed_index.index_dir, index)
    shutil.copy(FIXTURES / "formats" / "beeper_mini.md", corpus / "beeper_mini.md")
    shutil.copy(FIXTURES / "bad" / "empty.txt", corpus / "empty.txt")
    result = rag("index", "--json", "--corpus", str(corpus), "--index-dir", str(index))
    again = rag("index", "--json", "--corpus", str(corpus), "--index-dir", str(index))
    return {"first": result, "again": again, "index": index}


# -- rag index -----------------------------------------------------------------------------------------


def test_index_json_prints_exactly_one_summary_object(index_run: dict) -> None:
    result = index_run["first"]
    assert result.returncode == 0, result.stderr
    [summary] = _json_lines(result.stdout)
    assert summary.keys() >= INDEX_KEYS
    assert (summary["added"], summary["updated"], summary["removed"], summary["unchanged"]) == (1, 0, 0, 5)
    assert summary["articles"] == 6 and summary["chunks"] > 6
    assert isinstance(summary["seconds"], int | float) and summary["seconds"] >= 0


def test_index_progress_and_problems_go_to_stderr(index_run: dict) -> None:
    result = index_run["first"]
    assert "Embedding" in result.stderr and "Embedding" not in result.stdout  # the progress bar
    assert "empty.txt" in result.stderr  # the unreadable file, by name
    [summary] = _json_lines(result.stdout)
    assert [s["source"] for s in summary.get("skipped", [])] == ["empty.txt"]


def test_index_rerun_on_unchanged_corpus_changes_nothing(index_run: dict) -> None:
    result = index_run["again"]
    assert result.returncode == 0, result.stderr
    [summary] = _json_lines(result.stdout)
    assert (summary["added"], summary["updated"], summary["removed"], summary["unchanged"]) == (0, 0, 0, 6)
    assert "Embedding" not in result.stderr


# -- rag ask "Q" --json (with all three filters) -------------------------------------------------------


@pytest.fixture(scope="module")
def filtered_ask(index_dir: Path) -> subprocess.CompletedProcess[str]:
    return rag(
        "ask", MILLER, "--json", "--outlet", "Dawn", "--since", "2026-03-01", "--until", "2026-03-31",
        "--index-dir", str(index_dir),
    )  # fmt: skip


def test_ask_json_object(filtered_ask: subprocess.CompletedProcess[str]) -> None:
    assert filtered_ask.returncode == 0, filtered_ask.stderr
    [answer] = _json_lines(filtered_ask.stdout)
    assert answer.keys() >= ANSWER_KEYS
    assert answer["id"] is None and answer["question"] == MILLER
    assert answer["refused"] is False and answer["citations"]
    for n, c in enumerate(answer["citations"], start=1):
        assert c.keys() >= CITATION_KEYS
        assert c["n"] == n and f"[{n}]" in answer["answer"]
        assert isinstance(c["start"], int) and isinstance(c["end"], int) and c["end"] - c["start"] == len(c["quote"])


def test_ask_filters_restrict_citations(filtered_ask: subprocess.CompletedProcess[str], seed_index: Settings) -> None:
    [answer] = _json_lines(filtered_ask.stdout)
    from rag.store import load_index

    bodies = {a.id: a.body for a in load_index(seed_index.index_dir).articles.values()}
    for c in answer["citations"]:
        assert c["outlet"] == "Dawn"
        assert in_date_range(c["published"], "2026-03-01", "2026-03-31")
        assert bodies[c["article_id"]][c["start"] : c["end"]] == c["quote"]


# -- rag ask --json on JSON Lines stdin ------------------------------------------------------------------


ASK_LINES = [
    {"id": "q1", "question": MILLER},
    {"id": "q2", "question": GDP},
    {"id": "c1-1", "question": RUBIO, "conversation": "c1"},
    {"id": 7, "question": "Which designation did the administration give the cartels?"},
    {"id": "c1-2", "question": "What did he say the designation gives the administration?", "conversation": "c1"},
]


@pytest.fixture(scope="module")
def batch_ask(index_dir: Path) -> subprocess.CompletedProcess[str]:
    stdin = _jsonl(*ASK_LINES[:2]) + "\n" + _jsonl(*ASK_LINES[2:])  # a blank line is skipped
    return rag("ask", "--json", "--index-dir", str(index_dir), stdin=stdin)


def test_ask_stdin_prints_one_object_per_line_in_order(batch_ask: subprocess.CompletedProcess[str]) -> None:
    assert batch_ask.returncode == 0, batch_ask.stderr
    answers = _json_lines(batch_ask.stdout)
    assert [a["id"] for a in answers] == [r["id"] for r in ASK_LINES]
    assert [a["question"] for a in answers] == [r["question"] for r in ASK_LINES]
    for a in answers:
        assert a.keys() >= ANSWER_KEYS
        for c in a["citations"]:
            assert c.keys() >= CITATION_KEYS


def test_ask_stdin_answers_and_refuses(batch_ask: subprocess.CompletedProcess[str]) -> None:
    by_id = {a["id"]: a for a in _json_lines(batch_ask.stdout)}
    assert by_id["q1"]["refused"] is False
    assert {c["outlet"] for c in by_id["q1"]["citations"]} & {"Al Jazeera", "Dawn"}
    assert by_id["q2"]["refused"] is True and by_id["q2"]["citations"] == []
    assert by_id["c1-1"]["refused"] is False


# -- rag retrieve --json -k 3 ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def batch_retrieve(index_dir: Path) -> subprocess.CompletedProcess[str]:
    stdin = _jsonl(RETRIEVE_LINES[0]) + "{not json\n" + _jsonl({"id": "blank", "question": " "}, RETRIEVE_LINES[1])
    return rag("retrieve", "--json", "-k", "3", "--index-dir", str(index_dir), stdin=stdin)


RETRIEVE_LINES = [{"id": "r1", "question": MILLER}, {"id": "r2", "question": RUBIO, "conversation": "x"}]


def test_retrieve_bad_lines_are_reported_in_place(batch_retrieve: subprocess.CompletedProcess[str]) -> None:
    """A broken request line gets an error object in its place (exit 1); the other lines are still served."""
    assert batch_retrieve.returncode == 1
    first, broken, blank, last = _json_lines(batch_retrieve.stdout)
    assert (first["id"], last["id"]) == ("r1", "r2") and first["chunks"] and last["chunks"]
    assert broken["id"] is None and "line 2" in broken["error"]
    assert blank["id"] == "blank" and "question" in blank["error"]


def test_retrieve_stdin_contract(batch_retrieve: subprocess.CompletedProcess[str]) -> None:
    rows = RETRIEVE_LINES
    outputs = [o for o in _json_lines(batch_retrieve.stdout) if "error" not in o]
    assert [o["id"] for o in outputs] == ["r1", "r2"]
    for o, row in zip(outputs, rows, strict=True):
        assert {"id", "question", "chunks"} <= o.keys() and o["question"] == row["question"]
        assert 0 < len(o["chunks"]) <= 3
        for c in o["chunks"]:
            assert c.keys() >= CHUNK_KEYS
            assert isinstance(c["chunk_id"], int) and isinstance(c["score"], float) and c["text"]
        scores = [c["score"] for c in o["chunks"]]
        assert scores == sorted(scores, reverse=True)
    assert "Evrim Ağacı" in {c["outlet"] for c in outputs[1]["chunks"]}


# -- rag status, rag eval --------------------------------------------------------------------------------


def test_status_json(index_dir: Path) -> None:
    result = rag("status", "--json", "--index-dir", str(index_dir))
    assert result.returncode == 0, result.stderr
    [status] = _json_lines(result.stdout)
    assert {"articles", "chunks", "outlets", "model", "built_at"} <= status.keys()
    assert status["articles"] == 5 and status["model"] == Settings().model
    assert status["outlets"] == {o: 1 for o in ["Al Jazeera", "Dawn", "Evrim Ağacı", "TC Sentinel", "Truthout"]}


def test_eval_seed_dev_passes(index_dir: Path) -> None:
    result = rag("eval", str(DEV), "--json", "--index-dir", str(index_dir))
    assert result.returncode == 0, result.stderr
    [report] = _json_lines(result.stdout)
    summary = report["summary"]
    assert (summary["answerable_passed"], summary["answerable"]) == (10, 10), report["items"]
    assert (summary["unanswerable_refused"], summary["unanswerable"]) == (2, 2), report["items"]
    assert [i["id"] for i in report["items"]] == [json.loads(line)["id"] for line in DEV.read_text().splitlines()]
