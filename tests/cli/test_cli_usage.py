"""The `rag` console script without the model: help, wrong usage (exit 2), errors that say what to do (exit 1).

These run the installed script in a subprocess, as users and other tools do. An index that needs no model is
made by writing random unit vectors through `rag.store`, with a model name that is not installed: any command
that tried to load that model would fail, so these tests also show the checks happen before loading it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rag.chunking import chunk_article
from rag.ingest import read_corpus
from rag.store import MANIFEST, Changes, write_generation
from rag.types import Chunk

ROOT = Path(__file__).resolve().parents[2]
RAG = str(Path(sys.executable).with_name("rag"))
COMMANDS = ["index", "ask", "retrieve", "status", "eval"]
OTHER_MODEL = "example/not-an-installed-model"


def rag(*args: str, stdin: str = "", timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    return subprocess.run(
        [RAG, *args], input=stdin, capture_output=True, text=True, env=env, timeout=timeout, cwd=ROOT, check=False
    )


@pytest.fixture(scope="module")
def other_model_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A complete index of the seed articles whose manifest names a model that is not installed."""
    articles = read_corpus(ROOT / "seeds").articles
    chunks = [
        Chunk(c.article_id, c.start, c.end, c.text, id=i)
        for i, c in enumerate(c for a in articles for c in chunk_article(a))
    ]
    vectors = np.random.default_rng(0).normal(size=(len(chunks), 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    path = tmp_path_factory.mktemp("cli-usage") / "index"
    fields = {"model": OTHER_MODEL, "dimension": 16, "chunk_size": 1000, "chunk_overlap": 200, "embed_title": True}
    write_generation(path, None, Changes(add_articles=articles, add_chunks=chunks, add_vectors=vectors), fields)
    return path


def test_top_level_help_lists_every_command() -> None:
    result = rag("--help")
    assert result.returncode == 0
    for command in COMMANDS:
        assert command in result.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_subcommand_help(command: str) -> None:
    result = rag(command, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: rag {command}")
    assert "--index-dir" in result.stdout and "--json" in result.stdout


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["frobnicate"],
        ["ask", "--until", "2024-13-01", "Who?"],
        ["retrieve", "-k", "0", "--json"],
        ["eval"],
        ["ask"],  # neither a question nor --json for JSON Lines on stdin
    ],
    ids=lambda a: " ".join(a) or "no-command",
)
def test_bad_usage_exits_2(args: list[str], tmp_path: Path) -> None:
    result = rag(*args, "--index-dir", str(tmp_path)) if args and args[0] in {"ask", "retrieve"} else rag(*args)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert result.stdout == ""
    assert "usage:" in result.stderr or "QUESTION" in result.stderr


@pytest.mark.parametrize(
    "args",
    [["ask", "Who won?"], ["retrieve", "--json"], ["status", "--json"]],
    ids=" ".join,
)
def test_missing_index_exits_1_and_says_run_rag_index(args: list[str], tmp_path: Path) -> None:
    result = rag(*args, "--index-dir", str(tmp_path / "no-index"), stdin='{"id": 1, "question": "Who won?"}\n')
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "run `rag index`" in result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.stderr


def test_eval_on_missing_file_exits_1(tmp_path: Path) -> None:
    result = rag("eval", str(tmp_path / "nope.jsonl"), "--index-dir", str(tmp_path))
    assert result.returncode == 1 and "nope.jsonl" in result.stderr and "Traceback" not in result.stderr


def test_index_on_missing_corpus_exits_1(tmp_path: Path) -> None:
    result = rag("index", "--corpus", str(tmp_path / "no-corpus"), "--index-dir", str(tmp_path / "index"))
    assert result.returncode == 1
    assert "no-corpus" in result.stderr and "does not exist" in result.stderr


def test_status_json_needs_no_model(other_model_index: Path) -> None:
    result = rag("status", "--json", "--index-dir", str(other_model_index))
    assert result.returncode == 0, result.stderr
    [line] = result.stdout.splitlines()
    status = json.loads(line)
    assert {"articles", "chunks", "outlets", "model", "built_at"} <= status.keys()
    assert status["articles"] == 5 and status["chunks"] > 5 and status["model"] == OTHER_MODEL
    assert sum(status["outlets"].values()) == 5 and "Dawn" in status["outlets"]


@pytest.mark.parametrize(
    "args",
    [["ask", "--json", "Who won?"], ["eval"]],
    ids=" ".join,
)
def test_index_of_another_model_is_refused_with_rebuild_hint(other_model_index: Path, args: list[str]) -> None:
    if args == ["eval"]:
        args = ["eval", str(ROOT.parent / "shared" / "eval" / "seeds_dev.jsonl")]
    result = rag(*args, "--index-dir", str(other_model_index))
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "rag index --rebuild" in result.stderr and OTHER_MODEL in result.stderr
    assert result.stdout == ""


def test_index_refuses_to_update_another_models_index(other_model_index: Path, tmp_path: Path) -> None:
    index = tmp_path / "index"
    shutil.copytree(other_model_index, index)
    before = (index / MANIFEST).read_bytes()
    result = rag("index", "--json", "--corpus", str(ROOT / "seeds"), "--index-dir", str(index))
    assert result.returncode == 1
    assert "rag index --rebuild" in result.stderr
    assert result.stdout == ""
    assert (index / MANIFEST).read_bytes() == before


def test_corrupt_index_is_refused(other_model_index: Path, tmp_path: Path) -> None:
    index = tmp_path / "index"
    shutil.copytree(other_model_index, index)
    (index / MANIFEST).write_text("{ this is not json", encoding="utf-8")
    result = rag("status", "--index-dir", str(index))
    assert result.returncode == 1 and "rag index --rebuild" in result.stderr and "Traceback" not in result.stderr
