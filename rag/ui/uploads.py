"""Adding articles from the browser: save uploads into the corpus folder safely, then index incrementally.

    uploaded / pasted bytes ──check (extension, size, parses?)──▶ corpus/uploads/<safe name>
        ──rag.indexer.update_index (only new/changed articles are embedded)──▶ report per file and article

Safety rules, each with a test:
- Only the file's base name is used, reduced to letters, digits, `.`, `-` and `_`; it can never name a
  path outside `corpus/uploads/` (no `..`, no absolute paths, no hidden files the indexer would skip).
- Only the extensions the corpus readers understand, and at most `Settings.max_upload_mb` per file.
- A file whose bytes are identical to a saved one is not written again. A file whose name is taken by a
  *different* article gets a numeric suffix; only a new version of the *same* article (same URL, or same
  outlet and title when there is no URL) replaces the earlier upload, and the report says so.
- A file that yields no article (empty, not text, broken JSON) is reported and not saved.
"""

from __future__ import annotations

import os
import re
import secrets
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path, PurePosixPath, PureWindowsPath

import yaml

from rag.config import Settings
from rag.indexer import IndexSummary, Progress, corpus_mismatch, update_index
from rag.ingest import SUPPORTED_EXTENSIONS, Problem, parse_bytes
from rag.ingest.corpus import IGNORED_NAMES
from rag.store import IndexNotFound, IndexProblem, load_index
from rag.types import Article

#: Uploads go into this sub-folder of the corpus, so they are easy to find and never mix with curated files.
UPLOAD_DIR = "uploads"
ALLOWED_EXTENSIONS = SUPPORTED_EXTENSIONS
#: Longest stem kept from an uploaded name (file systems allow 255 bytes; leave room for suffixes).
_MAX_STEM = 80
#: How many `-2`, `-3`, … suffixes are tried before giving up on a name.
_MAX_SUFFIX = 999
_MB = 1024 * 1024
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


_LABELS = [("added", "Added"), ("updated", "Updated"), ("unchanged", "Unchanged"), ("skipped", "Skipped")]


@dataclass(slots=True)
class FileOutcome:
    """What happened to one uploaded file."""

    name: str  # as the user gave it
    status: str  # "saved", "replaced", "identical" or "rejected"
    message: str
    saved_as: str = ""  # path relative to the corpus folder
    articles: list[Article] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)  # caveats from reading it (bad lines, no outlet…)


@dataclass(slots=True)
class ArticleOutcome:
    status: str  # "added", "updated", "unchanged" or "skipped"
    title: str
    outlet: str
    source: str
    reason: str = ""


@dataclass(slots=True)
class UploadReport:
    files: list[FileOutcome] = field(default_factory=list)
    articles: list[ArticleOutcome] = field(default_factory=list)
    summary: IndexSummary | None = None
    error: str = ""  # set when nothing could be indexed (the message says what to do)
    notes: list[str] = field(default_factory=list)

    def by_status(self, status: str) -> list[ArticleOutcome]:
        return [a for a in self.articles if a.status == status]

    @property
    def rejected(self) -> list[FileOutcome]:
        return [f for f in self.files if f.status == "rejected"]

    def counts(self) -> list[tuple[str, int]]:
        """How many articles were added, updated, left unchanged and skipped."""
        return [(label, len(self.by_status(status))) for status, label in _LABELS]

    def sections(self) -> list[tuple[str, list[str], bool]]:
        """The report as (title, lines, is-a-problem) sections; empty sections included (callers skip them)."""
        out = []
        for status, label in _LABELS:
            lines = [
                f"{a.outlet} — {a.title} ({a.source})" + (f": {a.reason}" if a.reason else "")
                for a in self.by_status(status)
            ]
            out.append((f"{label}: {len(lines)} article(s)", lines, status == "skipped"))
        out.append(("Files not added", [f"{f.name}: {f.message}" for f in self.rejected], True))
        notes = [f"{f.name}: {f.message}" for f in self.files if f.status in {"identical", "replaced"}]
        notes += [f"{f.name}: {p}" for f in self.files for p in f.problems if f.status != "rejected"]
        out.append(("Notes", notes + self.notes, False))
        return out

    @property
    def changed_index(self) -> bool:
        return bool(self.summary and (self.summary.added or self.summary.updated or self.summary.removed))


def safe_filename(name: str) -> str:
    """A harmless base name for `name`: no folders, no leading dots, only [A-Za-z0-9._-], extension lower-case."""
    base = PureWindowsPath(PurePosixPath(name or "").name).name  # strips both "/" and "\" folders
    base = unicodedata.normalize("NFKD", base).encode("ascii", "ignore").decode("ascii")
    stem, dot, ext = base.rpartition(".")
    if not dot:
        stem, ext = ext, ""
    stem = _UNSAFE.sub("-", stem).strip(".-_ ")[:_MAX_STEM].rstrip(".-_ ") or "upload"
    ext = _UNSAFE.sub("", ext).lower()
    result = f"{stem}.{ext}" if ext else stem
    if result.lower() in IGNORED_NAMES:  # the corpus reader skips these names; keep the upload visible
        result = f"upload-{result}"
    return result


def check_upload(name: str, data: bytes, max_bytes: int) -> str | None:
    """Why this upload cannot be accepted, or None when it may be saved."""
    ext = PurePosixPath(safe_filename(name)).suffix
    if ext not in ALLOWED_EXTENSIONS:
        return f"file type '{ext or '(none)'}' is not accepted; use one of {', '.join(ALLOWED_EXTENSIONS)}"
    if len(data) > max_bytes:
        return f"too large ({len(data) / _MB:.1f} MB; the limit is {max_bytes / _MB:g} MB per file)"
    if not data.strip():
        return "empty file; nothing to add"
    return None


def _identity(a: Article) -> str:
    """What makes two versions 'the same article': its URL, else its outlet and title."""
    return a.url.strip().lower() if a.url else f"{a.outlet.lower()}\x00{a.title.lower()}"


def _temp_copy(path: Path, data: bytes) -> Path:
    """`data` fully written to a hidden file beside `path` (the corpus walk skips hidden files)."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    with tmp.open("xb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    return tmp


def _write_new(path: Path, data: bytes) -> bool:
    """Create `path` with `data`, complete or not at all; False if the name is taken.

    A hard link from a finished temporary file fails when the name exists, so two sessions saving the
    same name at once cannot overwrite each other, and an indexer never reads a half-written file.
    """
    tmp = _temp_copy(path, data)
    try:
        os.link(tmp, path)
    except FileExistsError:
        return False
    finally:
        tmp.unlink(missing_ok=True)
    return True


def _replace(path: Path, data: bytes) -> None:
    tmp = _temp_copy(path, data)
    try:
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _inside(path: Path, folder: Path) -> bool:
    return path.resolve().parent == folder.resolve()


def save_upload(corpus_dir: Path, name: str, data: bytes, max_bytes: int) -> FileOutcome:
    """Validate one upload and save it under `corpus_dir/uploads/`; never raises for bad input."""
    problem = check_upload(name, data, max_bytes)
    if problem:
        return FileOutcome(name, "rejected", problem)
    folder = corpus_dir / UPLOAD_DIR
    folder.mkdir(parents=True, exist_ok=True)
    base = PurePosixPath(safe_filename(name))
    for i in range(1, _MAX_SUFFIX + 1):
        candidate = base.name if i == 1 else f"{base.stem}-{i}{base.suffix}"
        rel = f"{UPLOAD_DIR}/{candidate}"
        path = folder / candidate
        if not _inside(path, folder):  # defence in depth: safe_filename already rules this out
            return FileOutcome(name, "rejected", "unsafe file name")
        read = parse_bytes(rel, data, max_bytes)
        if not read.articles:
            reasons = "; ".join(p.message for p in read.problems) or "no article found in it"
            return FileOutcome(name, "rejected", reasons, problems=read.problems)
        if _write_new(path, data):
            return FileOutcome(name, "saved", f"saved as {rel}", rel, read.articles, read.problems)
        if path.is_symlink() or not path.is_file():
            continue
        existing = path.read_bytes()
        if existing == data:
            return FileOutcome(name, "identical", f"identical to {rel}, already in the corpus", rel, read.articles)
        old = parse_bytes(rel, existing, max(max_bytes, len(existing)))
        if old.articles and {_identity(a) for a in old.articles} == {_identity(a) for a in read.articles}:
            _replace(path, data)
            return FileOutcome(
                name, "replaced", f"new version of the article(s) in {rel}; replaced it", rel, read.articles
            )
        # The name belongs to a different article: try the next suffix rather than overwrite it.
    return FileOutcome(name, "rejected", f"too many files named like '{base.name}'; rename it")


def pasted_file(outlet: str, title: str, published: date | None, url: str, text: str) -> tuple[str, bytes, str]:
    """A `.txt` file with YAML front matter for a pasted article: (file name, bytes, error or "")."""
    outlet, title, url, text = outlet.strip(), " ".join(title.split()), url.strip(), text.strip()
    missing = [label for label, value in (("outlet", outlet), ("title", title), ("article text", text)) if not value]
    if missing:
        return "", b"", "please fill in: " + ", ".join(missing)
    meta: dict[str, str] = {"outlet": outlet, "title": title}
    if published:
        meta["published"] = published.isoformat()
    if url:
        meta["url"] = url
    front = yaml.safe_dump(meta, allow_unicode=True, sort_keys=False, width=10_000)
    return safe_filename(f"{title[:60]}.txt"), f"---\n{front}---\n\n{text}\n".encode(), ""


def _article_outcomes(files: Sequence[FileOutcome], summary: IndexSummary) -> list[ArticleOutcome]:
    added, updated = set(summary.added_ids), set(summary.updated_ids)
    problems = {p.source: p for p in summary.problems if p.skipped}
    out = []
    for f in files:
        for a in f.articles:
            if a.id in added:
                status, reason = "added", ""
            elif a.id in updated:
                status, reason = "updated", "replaces the indexed version"
            elif a.source in problems:
                status, reason = "skipped", problems[a.source].message
            else:
                status, reason = "unchanged", "already indexed with the same text"
            out.append(ArticleOutcome(status, a.title, a.outlet, a.source, reason))
    return out


def add_articles(
    settings: Settings,
    uploads: Sequence[tuple[str, bytes]],
    progress: Progress | None = None,
) -> UploadReport:
    """Save `uploads` (name, bytes) into the corpus folder and bring the index up to date with it."""
    report = UploadReport()
    corpus_dir = Path(settings.corpus_dir)
    if not corpus_dir.is_dir():
        report.error = f"the corpus folder '{corpus_dir}' does not exist; create it or set RAG_CORPUS_DIR"
        return report
    try:
        mismatch = corpus_mismatch(load_index(settings.index_dir, verify=False), corpus_dir)
    except IndexNotFound:
        mismatch = None  # no index yet: indexing builds one from the corpus folder
    except IndexProblem as exc:
        report.error = str(exc)
        return report
    if mismatch:
        report.error = mismatch
        return report
    max_bytes = int(settings.max_upload_mb * _MB)
    report.files = [save_upload(corpus_dir, name, data, max_bytes) for name, data in uploads]
    if all(f.status == "rejected" for f in report.files):
        return report
    try:
        report.summary = update_index(settings, progress=progress)
    except (IndexProblem, OSError) as exc:
        report.error = f"the files were saved but indexing failed: {exc}"
        return report
    report.articles = _article_outcomes(report.files, report.summary)
    if report.summary.removed:
        report.notes.append(
            f"{report.summary.removed} article(s) left the index because their files are no longer in the corpus"
        )
    return report
