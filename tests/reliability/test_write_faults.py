"""Writes that fail (disk full, a file where the index folder should be) leave the previous index as it was.

A full disk is simulated with a file-size limit (`RLIMIT_FSIZE`) on the real `rag index` process: every write
past the limit fails with EFBIG, as it would with ENOSPC. The CLI must exit 1 with a message saying the
previous index is unchanged, leave no temporary folder, and the previous index must still load and answer.
"""

from __future__ import annotations

import resource
import signal
import subprocess
from pathlib import Path

import faiss
import pytest

from rag.config import Settings
from rag.indexer import update_index
from rag.pipeline import Pipeline
from rag.store import MANIFEST, Changes, IndexWriteFailed, load_index, write_generation

from .helpers import rag_command, rag_env, run_rag
from .test_corruption import _small_index

NEW_ARTICLE = """---
outlet: Harbour Weekly
title: Ferry timetable extended
published: 2024-04-02
---

The harbour council voted on Tuesday to add two evening ferry crossings to the winter timetable.
Councillors said demand had risen since the bridge closed for repairs in the spring.
"""


def _limit_file_size() -> None:  # runs in the child before exec
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead of killing
    resource.setrlimit(resource.RLIMIT_FSIZE, (16 * 1024, 16 * 1024))


@pytest.mark.slow
def test_disk_full_during_an_update_keeps_the_previous_index(tmp_index: Settings) -> None:
    index = Path(tmp_index.index_dir)
    manifest = (index / MANIFEST).read_bytes()
    (Path(tmp_index.corpus_dir) / "ferry.md").write_text(NEW_ARTICLE, encoding="utf-8")
    env = rag_env(RAG_INDEX_DIR=index, RAG_CORPUS_DIR=tmp_index.corpus_dir)
    run = subprocess.run(
        rag_command("index", "--json"), env=env, capture_output=True, text=True, preexec_fn=_limit_file_size
    )
    assert run.returncode == 1 and run.stdout == "", run.stderr
    assert "rag: error: could not write the index" in run.stderr and "Traceback" not in run.stderr
    assert "File too large" in run.stderr and "the previous index is unchanged" in run.stderr
    assert (index / MANIFEST).read_bytes() == manifest
    assert not [e for e in index.iterdir() if e.name.startswith(".tmp")]
    assert len(load_index(index, tmp_index.model).articles) == 5
    answer = Pipeline(tmp_index).ask("What did Marco Rubio say about blowing up the boat?")
    assert not answer.refused and answer.citations
    # With space again, the same update goes through.
    assert update_index(tmp_index).added == 1


def test_faiss_write_error_is_reported_and_cleaned_up(tmp_path: Path, monkeypatch) -> None:
    index = tmp_path / "index"
    _small_index(index)
    manifest = (index / MANIFEST).read_bytes()
    previous = load_index(index)

    def failing_write(*args: object) -> None:
        raise RuntimeError("Error in faiss::FileIOWriter: write error: No space left on device")

    monkeypatch.setattr(faiss, "write_index", failing_write)
    with pytest.raises(IndexWriteFailed, match="No space left on device.*the previous index is unchanged"):
        write_generation(index, previous, Changes(remove_articles=["https://example.com/1"]), {"model": "test/model"})
    assert (index / MANIFEST).read_bytes() == manifest
    assert sorted(e.name for e in index.iterdir() if not e.name.startswith("gen-")) == [MANIFEST]
    assert len(load_index(index).articles) == 3


def test_index_folder_that_is_a_file_gives_a_message(tmp_path: Path) -> None:
    not_a_folder = tmp_path / "index"
    not_a_folder.write_text("I am a file")
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "ferry.md").write_text(NEW_ARTICLE, encoding="utf-8")
    run = run_rag("index", "--corpus", tmp_path / "corpus", "--index-dir", not_a_folder)
    assert run.returncode == 1 and "Traceback" not in run.stderr, run.stderr
    assert f"rag: error: cannot create the index folder '{not_a_folder}'" in run.stderr
    assert not_a_folder.read_text() == "I am a file"
