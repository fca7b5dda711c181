"""Writers take turns; readers keep answering while the index is rebuilt under them.

- Two `rag index` at once: the second waits for the first (saying so on stderr), then finds nothing left to
  do; with a short `RAG_LOCK_TIMEOUT` it gives up with exit code 1 and a message, leaving the index untouched.
- A `Pipeline` (what the chat app holds) answering in a loop while `rag index --rebuild` runs in another
  process keeps answering from the old generation, then moves to the new one whole: every answer and every
  quote comes from exactly one generation, and once it has seen the new one it never goes back.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from pathlib import Path

import filelock
import pytest

from rag.config import Settings
from rag.indexer import update_index
from rag.pipeline import Pipeline
from rag.store import MANIFEST, load_index

from .helpers import expected_index, index_matches, rag_command, rag_env, run_rag

pytestmark = pytest.mark.slow

LIGHTHOUSE = """---
outlet: Harbour Weekly
title: Vellmar lighthouse gets a new coat of paint
published: 2024-04-02
url: https://harbour-weekly.example/vellmar-lighthouse
---

The Vellmar harbour lighthouse was repainted {colour} in March, the harbour trust said on Tuesday.
The trust said the old paint had peeled badly after two stormy winters on the exposed headland.
Volunteers spent three weekends scraping the tower before the painters arrived with their scaffolding.
"""
QUESTION = "What colour was the Vellmar harbour lighthouse repainted?"


def _wait_for(predicate, timeout: float = 300, what: str = "condition") -> None:
    end = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_second_indexer_gives_up_after_lock_timeout_with_a_clear_message(tmp_index: Settings) -> None:
    index = Path(tmp_index.index_dir)
    (Path(tmp_index.corpus_dir) / "lighthouse.md").write_text(LIGHTHOUSE.format(colour="teal"), encoding="utf-8")
    manifest = (index / MANIFEST).read_bytes()
    env = rag_env(RAG_INDEX_DIR=index, RAG_CORPUS_DIR=tmp_index.corpus_dir, RAG_LOCK_TIMEOUT=1)
    with filelock.FileLock(str(index / ".lock")):  # another indexer holds the index
        run = run_rag("index", "--json", env=env)
    assert run.returncode == 1 and run.stdout == ""
    assert "another indexer is updating" in run.stderr and "waiting" in run.stderr
    assert "rag: error: another `rag index` has held" in run.stderr and "Traceback" not in run.stderr
    assert (index / MANIFEST).read_bytes() == manifest  # nothing written
    assert len(load_index(index, tmp_index.model).articles) == 5  # still the old index, whole


def test_two_indexers_at_once_take_turns(tmp_index: Settings, tmp_path: Path) -> None:
    index = Path(tmp_index.index_dir)
    (Path(tmp_index.corpus_dir) / "lighthouse.md").write_text(LIGHTHOUSE.format(colour="teal"), encoding="utf-8")
    env = rag_env(RAG_INDEX_DIR=index, RAG_CORPUS_DIR=tmp_index.corpus_dir)
    logs = [tmp_path / "first.err", tmp_path / "second.err"]
    lock = filelock.FileLock(str(index / ".lock"))
    lock.acquire()  # hold the index until both have started and are waiting, so that they really overlap
    try:
        procs = [
            subprocess.Popen(rag_command("index", "--json"), env=env, stdout=subprocess.PIPE, stderr=log.open("w"))
            for log in logs
        ]
        _wait_for(lambda: all("waiting" in log.read_text() for log in logs), what="both indexers to wait")
    finally:
        lock.release()
    outs = [json.loads(p.communicate(timeout=600)[0]) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [log.read_text() for log in logs]
    # One of them added the article; the other ran after it and found the index up to date.
    assert sorted(o["added"] for o in outs) == [0, 1]
    assert sorted(o["unchanged"] for o in outs) == [5, 6]
    loaded = load_index(index, tmp_index.model)
    assert index_matches(loaded, expected_index(tmp_index))
    assert not [e for e in index.iterdir() if e.name.startswith(".tmp")]


def test_pipeline_keeps_answering_through_a_rebuild_and_switches_whole(tmp_index: Settings, tmp_path: Path) -> None:
    lighthouse = Path(tmp_index.corpus_dir) / "lighthouse.md"
    lighthouse.write_text(LIGHTHOUSE.format(colour="teal"), encoding="utf-8")
    update_index(tmp_index)
    pipe = Pipeline(tmp_index)
    first = pipe.ask(QUESTION)
    assert not first.refused and "teal" in " ".join(c.quote for c in first.citations)
    old_generation = pipe.index.manifest["generation"]

    seen: list[tuple[int, str, bool, str, bool]] = []  # (reader, generation, refused, quotes, quotes exact)
    errors: list[BaseException] = []
    ambiguous: list[int] = []
    stop = threading.Event()

    def ask_in_a_loop(reader: int) -> None:
        try:
            while not stop.is_set():
                pipe.refresh()  # what the app does before each question
                index = pipe.index
                answer = pipe.ask(QUESTION)
                if pipe.index is not index:  # the other reader switched generations meanwhile: which one
                    ambiguous.append(reader)  # this answer came from is unknown, so it is not judged
                    continue
                quotes = " ".join(c.quote for c in answer.citations)
                exact = all(index.articles[c.article_id].body[c.start : c.end] == c.quote for c in answer.citations)
                seen.append((reader, index.manifest["generation"], answer.refused, quotes, exact))
                time.sleep(0.05)  # a user's pace, leaving the CPU to the rebuild
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    readers = [threading.Thread(target=ask_in_a_loop, args=(r,)) for r in range(2)]
    for t in readers:
        t.start()
    lighthouse.write_text(LIGHTHOUSE.format(colour="crimson"), encoding="utf-8")
    env = rag_env(RAG_INDEX_DIR=tmp_index.index_dir, RAG_CORPUS_DIR=tmp_index.corpus_dir)
    rebuild = subprocess.run(rag_command("index", "--rebuild", "--json"), env=env, capture_output=True, text=True)
    during = len(seen)
    _wait_for(lambda: len(seen) >= during + 6 or bool(errors), what="answers after the rebuild")
    stop.set()
    for t in readers:
        t.join(timeout=120)
    assert rebuild.returncode == 0, rebuild.stderr
    assert not errors, errors

    new_generation = json.loads((Path(tmp_index.index_dir) / MANIFEST).read_text())["generation"]
    assert new_generation != old_generation and not (Path(tmp_index.index_dir) / old_generation).exists()
    assert {g for _, g, *_ in seen} <= {old_generation, new_generation}
    assert during > 0  # it kept answering while the rebuild ran
    assert len(ambiguous) <= 1  # only around the one switch
    for _, generation, refused, quotes, exact in seen:
        assert not refused and exact, (generation, quotes)
        # Each answer comes from one generation: the old quotes say teal, the new ones crimson, never both.
        assert ("teal" in quotes, "crimson" in quotes) == (generation == old_generation, generation == new_generation)
    for reader in range(len(readers)):
        mine = [g for r, g, *_ in seen if r == reader]
        assert mine[0] == old_generation and mine[-1] == new_generation, reader
        switch = mine.index(new_generation)
        assert all(g == new_generation for g in mine[switch:]), f"reader {reader} went back to the old generation"
    assert index_matches(pipe.index, expected_index(tmp_index))
