"""Keep the index in step with the corpus folder: watch it, fold each burst of changes in as one update.

    file events ──watchfiles.watch (debounce, step)──▶ one batch of changed paths
        ──settle (their sizes and mtimes stop changing)──▶ rag.indexer.update_index (incremental, atomic,
        under the index lock) ──▶ one `WatchUpdate` per batch (`rag index --watch` prints it as a line)

- A burst (50 files copied at once) arrives as one batch: watchfiles groups events until none came for
  `step` ms (at most `debounce` ms), and events that arrive during an update wait for the next batch.
- One update at a time: the loop is single-threaded, and `update_index` holds the index lock, so a
  `rag index` (or `--rebuild`) in a terminal is waited for, never interleaved; the next update simply reads
  the manifest that one left.
- A half-written file is waited for (`settle`) and, if it was still caught incomplete or unparseable, its
  next write is a new event and a new update: it is picked up once complete.
- A file that cannot be read is reported by `update_index` as skipped; the watcher names it and goes on.
- A corpus folder that is not the one the index was built from (none of its articles' files are there) is
  refused, as uploads are: an update would otherwise drop every article.
  A failed update (lock timeout, disk full) is reported and the watcher keeps watching.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import watchfiles

from rag.config import Settings
from rag.indexer import IndexSummary, corpus_mismatch, update_index
from rag.ingest.corpus import IGNORED_NAMES
from rag.store import IndexMismatch, IndexProblem, load_index

#: update(settings) -> summary: the incremental indexer (a stand-in in unit tests).
Updater = Callable[[Settings], IndexSummary]


@dataclass(slots=True)
class WatchUpdate:
    """What one batch of file events did to the index."""

    paths: list[str]  # changed files, relative to the corpus folder ("" for the first, catch-up update)
    summary: IndexSummary | None = None
    error: str = ""
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)  # skipped files of this batch, "name: reason"

    @property
    def changed(self) -> bool:
        s = self.summary
        return bool(s and (s.added or s.updated or s.removed))

    def line(self) -> str:
        """The stderr line for this update."""
        files = f"{len(self.paths)} file{'s' if len(self.paths) != 1 else ''} changed"
        if self.error:
            return f"rag: watch: {files}; update failed: {self.error}"
        s = self.summary
        assert s is not None
        out = (
            f"rag: watch: {files}; {s.added} added, {s.updated} updated, {s.removed} removed "
            f"({s.articles} articles, {self.seconds:.1f} s)"
        )
        if self.problems:
            out += "; skipped: " + "; ".join(self.problems)
        return out


def relevant(corpus_dir: Path, index_dir: Path | None = None) -> Callable[[watchfiles.Change, str], bool]:
    """The watch filter: files the corpus walk reads (not hidden, not README/sources.json, inside the corpus),
    never the index's own files (an index folder inside the corpus would otherwise wake the watcher itself)."""
    root = Path(corpus_dir).resolve()
    index_root = Path(index_dir).resolve() if index_dir is not None else None

    def keep(change: watchfiles.Change, path: str) -> bool:
        resolved = Path(path).resolve()
        if index_root is not None and (resolved == index_root or index_root in resolved.parents):
            return False
        try:
            rel = resolved.relative_to(root)
        except ValueError:
            return False
        if any(part.startswith(".") for part in rel.parts) or any(p in {"__pycache__"} for p in rel.parts):
            return False
        return rel.name.lower() not in IGNORED_NAMES

    return keep


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None  # gone (deleted or renamed away): nothing to wait for
    return st.st_size, st.st_mtime_ns


def settle(
    paths: Iterable[Path],
    quiet: float,
    timeout: float,
    sleep: Callable[[float], object] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> bool:
    """Wait until no file in `paths` changed size or mtime for `quiet` seconds; False if `timeout` passed first.

    A writer still appending to a file keeps moving its size and mtime; once both hold still, the file is
    read. (A writer that pauses longer than `quiet` is caught early; its next write is another event.)
    """
    paths = list(paths)
    if not paths or quiet <= 0:
        return True
    deadline = clock() + timeout
    last = [_stamp(p) for p in paths]
    still_since = clock()
    while clock() - still_since < quiet:
        if clock() >= deadline:
            return False
        sleep(min(0.1, quiet / 4))
        now = [_stamp(p) for p in paths]
        if now != last:
            last, still_since = now, clock()
    return True


class CorpusWatcher:
    """Watches `settings.corpus_dir` and updates `settings.index_dir` after each burst of changes.

    `run()` blocks until `stop()` (or Ctrl-C in the main thread); `start()` runs it in a daemon thread.
    `on_update` gets a `WatchUpdate` per batch (the CLI prints `line()`; the app only needs the index to move).
    """

    def __init__(
        self,
        settings: Settings,
        on_update: Callable[[WatchUpdate], None] | None = None,
        update: Updater | None = None,
        initial_update: bool = True,
    ) -> None:
        self.settings = settings
        self.corpus_dir = Path(settings.corpus_dir)
        self.on_update = on_update or (lambda u: None)
        self.update = update or (lambda s: update_index(s))
        self.initial_update = initial_update
        self.stop_event = threading.Event()
        self.ready = threading.Event()  # set once the file-system watch is in place
        self.updates: list[WatchUpdate] = []
        self.error = ""  # why a watcher thread ended early (a missing corpus folder), else ""
        self._thread: threading.Thread | None = None

    # -- one update ---------------------------------------------------------------------------------------

    def apply(self, paths: Iterable[str]) -> WatchUpdate:
        """Wait for the changed files to settle, then run one incremental update and report it."""
        rel = sorted({self._rel(p) for p in paths})
        settle(
            (self.corpus_dir / r for r in rel if r),
            self.settings.watch_settle_seconds,
            timeout=max(self.settings.watch_settle_seconds * 20, 5.0),
            sleep=lambda s: self.stop_event.wait(s),
        )
        result = WatchUpdate(rel)
        t0 = time.perf_counter()
        try:
            if mismatch := self._wrong_folder():
                raise IndexMismatch(mismatch + "; the index was left as it is")
            result.summary = self.update(self.settings)
        except (IndexProblem, OSError) as exc:  # busy lock, disk full, corpus folder gone: report, keep watching
            result.error = str(exc)
        result.seconds = time.perf_counter() - t0
        if result.summary is not None:
            batch = set(rel)
            result.problems = [
                f"{p.source}: {p.message}"
                for p in result.summary.problems
                if p.skipped and (not rel or p.source.split("#", 1)[0] in batch)
            ]
        self.updates.append(result)
        self.on_update(result)
        return result

    def _wrong_folder(self) -> str | None:
        """Why the corpus folder is not the one the index was built from (then updating would drop every
        article), or None. An index that is missing or unreadable is the indexer's to report."""
        try:
            return corpus_mismatch(load_index(self.settings.index_dir, verify=False), self.corpus_dir)
        except IndexProblem:
            return None

    def _rel(self, path: str) -> str:
        try:
            return Path(path).resolve().relative_to(self.corpus_dir.resolve()).as_posix()
        except ValueError:
            return Path(path).name

    # -- the loop -----------------------------------------------------------------------------------------

    def run(self) -> None:
        """Catch up once, then fold in each batch of changes until stopped."""
        if not self.corpus_dir.is_dir():
            raise FileNotFoundError(
                f"corpus folder '{self.corpus_dir}' does not exist (set --corpus or RAG_CORPUS_DIR); nothing to watch"
            )
        if self.initial_update and not self.stop_event.is_set():
            self.apply([])
        batches = watchfiles.watch(
            self.corpus_dir,
            watch_filter=relevant(self.corpus_dir, Path(self.settings.index_dir)),
            debounce=self.settings.watch_debounce_ms,
            step=self.settings.watch_step_ms,
            stop_event=self.stop_event,
            rust_timeout=500,
            yield_on_timeout=True,  # an empty batch every 0.5 s: `ready` is set once the watch is in place
            raise_interrupt=True,
        )
        for changes in batches:
            self.ready.set()
            if self.stop_event.is_set():
                break
            if changes:
                self.apply(path for _, path in changes)

    def _run_reporting(self) -> None:
        try:
            self.run()
        except Exception as exc:  # noqa: BLE001 - a thread's death must be said, not only printed as a trace
            self.error = str(exc)
            self.on_update(WatchUpdate([], error=f"the watcher stopped: {exc}"))

    def start(self) -> threading.Thread:
        """Run the watcher in a daemon thread (the app's way); returns the thread. `error` says why it ended."""
        self._thread = threading.Thread(target=self._run_reporting, name="rag-corpus-watcher", daemon=True)
        self._thread.start()
        return self._thread

    def stop(self, timeout: float = 10.0) -> None:
        self.stop_event.set()
        if self._thread is not None:
            self._thread.join(timeout)
