"""The corpus page's data and its one write: the indexed articles as table rows, and removing an article.

Removing an article moves its source file out of the corpus folder (into `<index_dir>/removed/`, so it can
be put back by hand) and runs the same incremental update as `rag index`: the index drops every article that
file held. The path comes from the index, so it is checked to lie inside the corpus folder before anything
is moved; a record of a JSON Lines file takes the whole file (the page says how many articles it holds).
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rag.config import Settings
from rag.indexer import IndexSummary, update_index
from rag.store import IndexData, IndexProblem

#: Where removed files go: inside the index folder (beside the index, never read as corpus).
REMOVED_DIR = "removed"


def source_file(source: str) -> str:
    """The file part of an article's source ("feed.jsonl#3" → "feed.jsonl")."""
    return source.split("#", 1)[0]


def article_rows(index: IndexData) -> list[dict[str, Any]]:
    """One row per indexed article: outlet, title, date, chunks, source file (and its id, for opening it)."""
    chunks = Counter(c.article_id for c in index.chunks.values())
    rows = [
        {
            "outlet": a.outlet,
            "title": a.title,
            "published": a.published,
            "chunks": chunks.get(a.id, 0),
            "source": a.source,
            "id": a.id,
        }
        for a in index.articles.values()
    ]
    return sorted(rows, key=lambda r: (r["published"], r["outlet"], r["title"]), reverse=True)


def search_rows(rows: list[dict[str, Any]], text: str) -> list[dict[str, Any]]:
    """The rows whose outlet, title, date or source contain every word of `text` (case-insensitive)."""
    words = text.lower().split()
    if not words:
        return rows
    hay = [(r, f"{r['outlet']} {r['title']} {r['published']} {r['source']}".lower()) for r in rows]
    return [r for r, h in hay if all(w in h for w in words)]


def siblings(index: IndexData, article_id: str) -> list[str]:
    """Titles of every article that comes from the same file as `article_id` (itself included)."""
    art = index.articles.get(article_id)
    if art is None:
        return []
    f = source_file(art.source)
    return [a.title for a in index.articles.values() if source_file(a.source) == f]


@dataclass(slots=True)
class Removal:
    ok: bool
    message: str
    moved_to: str = ""
    summary: IndexSummary | None = None
    removed_titles: list[str] = field(default_factory=list)


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True


def remove_article(settings: Settings, index: IndexData, article_id: str) -> Removal:
    """Move the file of `article_id` out of the corpus and update the index incrementally."""
    art = index.articles.get(article_id)
    if art is None:
        return Removal(False, "this article is no longer in the index")
    corpus = Path(settings.corpus_dir)
    rel = source_file(art.source)
    path = corpus / rel
    if not rel or Path(rel).is_absolute() or not _inside(path, corpus) or path.is_symlink():
        return Removal(False, f"'{rel}' is not a file inside the corpus folder '{corpus}'; nothing was removed")
    if not path.is_file():
        return Removal(False, f"'{rel}' is no longer in the corpus folder; run `rag index` to update the index")
    titles = siblings(index, article_id)
    target_dir = Path(settings.index_dir) / REMOVED_DIR
    target_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    target = target_dir / f"{stamp}-{rel.replace('/', '__')}"
    try:
        os.replace(path, target)  # same file system as a rule; a move across devices falls back below
    except OSError:
        try:
            target.write_bytes(path.read_bytes())
            path.unlink()
        except OSError as exc:
            return Removal(False, f"could not move '{rel}' out of the corpus ({exc.strerror or exc})")
    try:
        summary = update_index(settings)
    except (IndexProblem, OSError) as exc:
        return Removal(False, f"'{rel}' was moved to '{target}', but the index update failed: {exc}", str(target))
    n = len(titles)
    what = f"“{art.title}”" if n == 1 else f"{n} articles of {rel}"
    message = f"Removed {what} from the corpus (the file is kept in {target})."
    return Removal(True, message, str(target), summary, titles)
