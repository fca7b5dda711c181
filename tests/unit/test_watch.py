"""The corpus watcher's batching, settling and error handling, with a stand-in indexer (real file-system
events from watchfiles, no model, no index)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from rag.config import Settings
from rag.indexer import IndexBusy, IndexSummary
from rag.ingest.base import Problem
from rag.watch import CorpusWatcher, WatchUpdate, relevant, settle


def wait_for(condition: Callable[[], bool], timeout: float = 15.0) -> bool:
    """Poll `condition` until it holds or `timeout` seconds pass (a deadline, never a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


class CountingUpdater:
    """Stands in for `update_index`: records each call and the files the corpus held at that moment."""

    def __init__(self, fail_first: int = 0, slow: float = 0.0) -> None:
        self.calls: list[list[str]] = []
        self.fail_first = fail_first
        self.slow = slow
        self.running = 0
        self.overlapped = False

    def __call__(self, settings: Settings) -> IndexSummary:
        self.running += 1
        self.overlapped |= self.running > 1
        try:
            files = sorted(p.name for p in Path(settings.corpus_dir).iterdir() if not p.name.startswith("."))
            self.calls.append(files)
            time.sleep(self.slow)
            if len(self.calls) <= self.fail_first:
                raise IndexBusy("another `rag index` holds the lock")
            problems = [Problem(f, "binary file, not text") for f in files if f.endswith(".bin.txt")]
            return IndexSummary(articles=len(files), added=1, problems=problems)
        finally:
            self.running -= 1


@pytest.fixture
def watching(make_settings) -> Iterator[Callable[..., tuple[CorpusWatcher, CountingUpdater, Path]]]:
    started: list[CorpusWatcher] = []

    def start(updater: CountingUpdater | None = None, **overrides) -> tuple[CorpusWatcher, CountingUpdater, Path]:
        settings = make_settings(**overrides)
        Path(settings.corpus_dir).mkdir(parents=True, exist_ok=True)
        updater = updater or CountingUpdater()
        watcher = CorpusWatcher(settings, update=updater, initial_update=False)
        watcher.start()
        started.append(watcher)
        assert watcher.ready.wait(10), "the watch did not start"
        return watcher, updater, Path(settings.corpus_dir)

    yield start
    for w in started:
        w.stop()
        assert w._thread is not None and not w._thread.is_alive(), "the watcher thread stopped"


def test_a_burst_of_50_files_is_one_or_two_updates(watching) -> None:
    watcher, updater, corpus = watching()
    for i in range(50):
        (corpus / f"article-{i:02d}.md").write_text(f"---\noutlet: X\ntitle: T{i}\n---\n\nBody {i}.\n")
    assert wait_for(lambda: updater.calls and len(updater.calls[-1]) == 50)
    time.sleep(watcher.settings.watch_debounce_ms / 1000 + 0.5)  # let any straggling batch arrive
    assert 1 <= len(updater.calls) <= 2, f"{len(updater.calls)} updates for one burst"
    assert len(updater.calls[-1]) == 50


def test_one_update_at_a_time_and_changes_during_an_update_come_next(watching) -> None:
    watcher, updater, corpus = watching(CountingUpdater(slow=1.0))
    (corpus / "a.md").write_text("first")
    assert wait_for(lambda: updater.running == 1)
    (corpus / "b.md").write_text("arrives while the first update runs")
    assert wait_for(lambda: any("b.md" in c for c in updater.calls))
    assert not updater.overlapped


def test_a_deleted_file_is_an_update_too(watching) -> None:
    watcher, updater, corpus = watching()
    (corpus / "a.md").write_text("x")
    assert wait_for(lambda: len(updater.calls) == 1)
    (corpus / "a.md").unlink()
    assert wait_for(lambda: len(updater.calls) == 2 and updater.calls[-1] == [])
    assert watcher.updates[-1].paths == ["a.md"]


def test_hidden_and_readme_files_are_not_events(tmp_path: Path) -> None:
    keep = relevant(tmp_path)
    assert keep(None, str(tmp_path / "story.md"))
    assert keep(None, str(tmp_path / "sub" / "story.json"))
    assert not keep(None, str(tmp_path / "uploads" / ".story.md.1a2b.tmp"))
    assert not keep(None, str(tmp_path / ".git" / "index"))
    assert not keep(None, str(tmp_path / "README.md"))
    assert not keep(None, str(tmp_path.parent / "elsewhere.md"))
    in_corpus_index = relevant(tmp_path, tmp_path / "index")
    assert not in_corpus_index(None, str(tmp_path / "index" / "gen-1" / "meta.sqlite"))
    assert in_corpus_index(None, str(tmp_path / "indexes.md"))


def test_a_failed_update_is_reported_and_the_watcher_goes_on(watching) -> None:
    lines: list[str] = []
    watcher, updater, corpus = watching(CountingUpdater(fail_first=1))
    watcher.on_update = lambda u: lines.append(u.line())
    (corpus / "a.md").write_text("x")
    assert wait_for(lambda: len(lines) == 1)
    assert "update failed: another `rag index` holds the lock" in lines[0]
    (corpus / "b.md").write_text("y")
    assert wait_for(lambda: len(lines) == 2)
    assert "1 added" in lines[1]


def test_an_unreadable_file_of_the_batch_is_named_in_the_line(watching) -> None:
    watcher, updater, corpus = watching()
    (corpus / "x.bin.txt").write_bytes(b"\x00\x01")
    assert wait_for(lambda: len(watcher.updates) == 1)
    update = watcher.updates[0]
    assert update.problems == ["x.bin.txt: binary file, not text"]
    assert "skipped: x.bin.txt: binary file, not text" in update.line()


def test_settle_waits_for_a_file_still_being_written(tmp_path: Path) -> None:
    path = tmp_path / "growing.md"
    path.write_text("---\n")
    done = threading.Event()

    def writer() -> None:
        with path.open("a") as f:
            for i in range(8):
                time.sleep(0.1)
                f.write(f"line {i}\n")
                f.flush()
        done.set()

    t = threading.Thread(target=writer)
    t.start()
    assert settle([path], quiet=0.4, timeout=10)
    assert done.is_set(), "settled while the file was still growing"
    t.join()


def test_settle_gives_up_at_its_deadline_and_ignores_deleted_files(tmp_path: Path) -> None:
    clock = iter(range(1000)).__next__  # each look at the clock is one second later
    path = tmp_path / "busy.md"
    path.write_text("x")
    sizes = iter(range(1, 1000))

    def sleep(_: float) -> None:
        path.write_text("x" * next(sizes))  # changes on every look

    assert not settle([path], quiet=3, timeout=10, sleep=sleep, clock=lambda: float(clock()))
    assert settle([tmp_path / "gone.md"], quiet=0.05, timeout=1)


def test_update_line_counts() -> None:
    line = WatchUpdate(["a.md", "b.md"], IndexSummary(articles=7, added=2, removed=1), seconds=1.23).line()
    assert line == "rag: watch: 2 files changed; 2 added, 0 updated, 1 removed (7 articles, 1.2 s)"
