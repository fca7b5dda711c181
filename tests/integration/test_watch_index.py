"""The corpus watcher over a real index and the real model: bursts, half-written and unreadable files, a
concurrent `rag index --rebuild`, and `rag index --watch` itself (stderr lines, Ctrl-C)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from rag.config import Settings
from rag.indexer import update_index
from rag.store import load_index
from rag.watch import CorpusWatcher

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def article(i: int, extra: str = "") -> str:
    return (
        f"---\noutlet: Watch Herald\ntitle: Harbour note number {i}\npublished: 2026-04-{1 + i % 28:02d}\n"
        f"url: https://watch-herald.example/{i}\n---\n\nHarbour master Ilse Varga logged ship {i} at dawn.{extra}\n"
    )


def wait_for(condition: Callable[[], bool], timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def urls(settings: Settings) -> set[str]:
    return {a.url for a in load_index(settings.index_dir, verify=False).articles.values()}


@pytest.fixture
def watcher(tmp_index: Settings) -> Iterator[CorpusWatcher]:
    w = CorpusWatcher(tmp_index, initial_update=False)
    w.start()
    assert w.ready.wait(20)
    yield w
    w.stop()
    assert not w._thread.is_alive()


def test_a_burst_of_50_files_ends_in_one_or_two_updates(watcher: CorpusWatcher, tmp_index: Settings) -> None:
    folder = tmp_index.corpus_dir / "burst"
    folder.mkdir()
    for i in range(50):
        (folder / f"note-{i:02d}.md").write_text(article(i))
    expected = {f"https://watch-herald.example/{i}" for i in range(50)}
    assert wait_for(lambda: expected <= urls(tmp_index))
    time.sleep(tmp_index.watch_debounce_ms / 1000 + 1)  # any straggling batch would have started by now
    changed = [u for u in watcher.updates if u.changed]
    assert 1 <= len(changed) <= 2, [u.line() for u in watcher.updates]
    assert sum(u.summary.added for u in changed) == 50


def test_a_half_written_file_is_picked_up_once_complete(watcher: CorpusWatcher, tmp_index: Settings) -> None:
    path = tmp_index.corpus_dir / "slow.md"
    full = article(900, " The ferry Aurelia docked late after the storm.")
    with path.open("w") as f:
        f.write(full[:25])  # front matter cut off mid-way: not an article yet
        f.flush()
        assert wait_for(lambda: any("slow.md" in u.paths for u in watcher.updates), 30)
        f.write(full[25:])
    assert wait_for(lambda: "https://watch-herald.example/900" in urls(tmp_index))
    body = next(a.body for a in load_index(tmp_index.index_dir, verify=False).articles.values() if "900" in a.url)
    assert body.endswith("The ferry Aurelia docked late after the storm.")


def test_an_unreadable_file_is_reported_and_skipped(watcher: CorpusWatcher, tmp_index: Settings) -> None:
    (tmp_index.corpus_dir / "scan.txt").write_bytes(b"\x00\x9f binary scan")
    (tmp_index.corpus_dir / "good.md").write_text(article(901))
    assert wait_for(lambda: "https://watch-herald.example/901" in urls(tmp_index))
    # The update's report is recorded just after its manifest switch: wait for it too.
    assert wait_for(lambda: any("good.md" in u.paths for u in watcher.updates if u.summary), 30)
    lines = " ".join(u.line() for u in watcher.updates)
    assert "skipped: scan.txt: binary file" in lines
    (tmp_index.corpus_dir / "later.md").write_text(article(902))
    assert wait_for(lambda: "https://watch-herald.example/902" in urls(tmp_index)), "still watching"


def test_the_watcher_survives_a_rebuild_by_another_rag_index(watcher: CorpusWatcher, tmp_index: Settings) -> None:
    rebuilt = threading.Event()

    def rebuild() -> None:
        update_index(tmp_index, rebuild=True)  # holds the lock while the watcher wants it
        rebuilt.set()

    t = threading.Thread(target=rebuild)
    t.start()
    (tmp_index.corpus_dir / "during.md").write_text(article(903))
    t.join(120)
    assert rebuilt.is_set()
    (tmp_index.corpus_dir / "after.md").write_text(article(904))
    assert wait_for(lambda: {f"https://watch-herald.example/{i}" for i in (903, 904)} <= urls(tmp_index))
    assert not [u for u in watcher.updates if u.error], [u.line() for u in watcher.updates]
    assert len(load_index(tmp_index.index_dir).articles) == 7  # and the index is whole


def test_rag_index_watch_prints_a_line_per_update_and_stops_on_ctrl_c(tmp_index: Settings) -> None:
    env = os.environ | {"RAG_INDEX_DIR": str(tmp_index.index_dir), "RAG_CORPUS_DIR": str(tmp_index.corpus_dir)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "rag.cli", "index", "--watch"],
        cwd=ROOT,
        env=env,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        # A shell that runs the tests in the background (`make test &`, nohup) starts them with SIGINT ignored,
        # and a child inherits that: Ctrl-C, as a terminal sends it, reaches the watcher only with it restored.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stderr.readline, "")), daemon=True)
    reader.start()
    try:
        assert wait_for(lambda: any("0 added" in line for line in lines), 120), lines  # the catch-up update
        time.sleep(1.0)  # the watch is set up right after the catch-up update's line
        (tmp_index.corpus_dir / "cli.md").write_text(article(905))
        assert wait_for(lambda: any("1 added" in line for line in lines), 60), lines
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(30)
    reader.join(5)
    assert code == 0, lines
    assert "rag: watch stopped" in lines[-1]
    assert "https://watch-herald.example/905" in urls(tmp_index)


def test_a_corpus_folder_without_the_indexed_files_is_refused(tmp_index: Settings, tmp_path: Path) -> None:
    """Pointed at the wrong (or an emptied) folder, an update would drop every article: refused instead."""
    empty = tmp_path / "elsewhere"
    empty.mkdir()
    (empty / "one.md").write_text(article(906))
    before = urls(tmp_index)
    w = CorpusWatcher(tmp_index.model_copy(update={"corpus_dir": empty}), initial_update=False)
    update = w.apply([str(empty / "one.md")])
    assert "was not built from the corpus folder" in update.error and "left as it is" in update.error
    assert urls(tmp_index) == before


def test_a_missing_corpus_folder_stops_the_watcher_thread_with_a_reason(tmp_index: Settings, tmp_path: Path) -> None:
    lines: list[str] = []
    settings = tmp_index.model_copy(update={"corpus_dir": tmp_path / "nope"})
    w = CorpusWatcher(settings, on_update=lambda u: lines.append(u.line()))
    w.start().join(20)
    assert "does not exist" in w.error and "the watcher stopped" in lines[-1]
