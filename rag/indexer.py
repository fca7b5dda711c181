"""Incremental index updates: hash every article, embed only what is new or changed, delete what left.

    corpus folder ──read──▶ articles ──diff by id + content hash──▶ added / updated / removed / unchanged
    added + updated ──chunk, embed──▶ new generation (store.write_generation) ──▶ manifest switch

One writer at a time: a file lock in the index folder makes a second `rag index` wait (up to
`Settings.lock_timeout` seconds) and then exit with a clear message, never interleave.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import filelock

from rag.chunking import chunk_article
from rag.config import Settings
from rag.embedding import get_embedder
from rag.ingest import Problem, read_corpus
from rag.store import (
    Changes,
    IndexData,
    IndexNotFound,
    IndexProblem,
    IndexWriteFailed,
    check_compatible,
    clean_leftovers,
    load_index,
    read_manifest,
    write_generation,
)
from rag.types import Article, Chunk
from rag.vector_index import AnnPolicy

#: progress(stage, done, total): stage is "embed"; called after each embedded batch.
Progress = Callable[[str, int, int], None]


class IndexBusy(IndexProblem):
    """Another process holds the index lock."""


@dataclass
class IndexSummary:
    """What one `rag index` run did (the `--json` output, plus the problems met)."""

    articles: int = 0
    chunks: int = 0
    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    seconds: float = 0.0
    embedded_chunks: int = 0
    problems: list[Problem] = field(default_factory=list)
    added_ids: list[str] = field(default_factory=list)
    updated_ids: list[str] = field(default_factory=list)
    removed_ids: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["seconds"] = round(self.seconds, 3)
        d["problems"] = [{"source": p.source, "message": p.message, "skipped": p.skipped} for p in self.problems]
        return d


def build_fields(settings: Settings, dimension: int) -> dict[str, Any]:
    """The manifest fields that must match between an index and the settings that update it."""
    return {
        "model": settings.model,
        "dimension": dimension,
        "chunk_size": settings.chunk_size,
        "chunk_overlap": settings.chunk_overlap,
        "embed_title": settings.embed_title,
        # Vectors of two backends differ slightly (~0.99 cosine): an index never mixes them.
        "embed_backend": settings.embed_backend,
    }


def embedding_text(article: Article, chunk: Chunk, with_title: bool) -> str:
    """What is embedded for a chunk: its title first gives short passages their topic (stored text unchanged)."""
    return f"{article.title}\n{chunk.text}" if with_title else chunk.text


def lock_for(index_dir: Path, timeout: float) -> filelock.FileLock:
    try:
        index_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise IndexWriteFailed(f"cannot create the index folder '{index_dir}' ({exc.strerror or exc})") from None
    return filelock.FileLock(str(index_dir / ".lock"), timeout=timeout)


def update_index(
    settings: Settings,
    corpus_dir: Path | None = None,
    index_dir: Path | None = None,
    rebuild: bool = False,
    progress: Progress | None = None,
    on_wait: Callable[[], None] | None = None,
) -> IndexSummary:
    """Bring the index in `index_dir` up to date with `corpus_dir` (both default to the settings)."""
    corpus_dir = Path(corpus_dir or settings.corpus_dir)
    index_dir = Path(index_dir or settings.index_dir)
    lock = lock_for(index_dir, settings.lock_timeout)
    try:
        lock.acquire(timeout=0)
    except filelock.Timeout:
        if on_wait:
            on_wait()
        try:
            lock.acquire()
        except filelock.Timeout:
            raise IndexBusy(
                f"another `rag index` has held '{index_dir}' for over {settings.lock_timeout:.0f} s; "
                "wait for it to finish, or remove the lock file if no indexer is running"
            ) from None
    try:
        return _update_locked(settings, corpus_dir, index_dir, rebuild, progress)
    finally:
        lock.release()


def _update_locked(
    settings: Settings, corpus_dir: Path, index_dir: Path, rebuild: bool, progress: Progress | None
) -> IndexSummary:
    t0 = time.perf_counter()
    clean_leftovers(index_dir)
    previous: IndexData | None = None
    if not rebuild:
        try:
            manifest = read_manifest(index_dir)
            manifest.setdefault("embed_backend", "torch")  # indexes from before backends were recorded
            check_compatible(manifest, settings.model, build_fields(settings, manifest["dimension"]))
            previous = load_index(index_dir, settings.model, verify=settings.verify_checksums)
        except IndexNotFound:
            previous = None
    read = read_corpus(corpus_dir, max_bytes=int(settings.max_file_mb * 1024 * 1024))
    summary = IndexSummary(problems=read.problems)

    old_hashes = previous.hashes if previous else {}
    new = {a.id: a for a in read.articles}
    added = [a for aid, a in new.items() if aid not in old_hashes]
    updated = [a for aid, a in new.items() if aid in old_hashes and old_hashes[aid] != a.hash]
    removed = [aid for aid in old_hashes if aid not in new]
    summary.added, summary.updated, summary.removed = len(added), len(updated), len(removed)
    summary.unchanged = len(new) - len(added) - len(updated)
    summary.added_ids = [a.id for a in added]
    summary.updated_ids = [a.id for a in updated]
    summary.removed_ids = removed

    if previous is not None and not (added or updated or removed):
        summary.articles, summary.chunks = len(previous.articles), len(previous.chunks)
        summary.seconds = time.perf_counter() - t0
        return summary

    to_embed = added + updated
    next_id = max(previous.chunks, default=-1) + 1 if previous else 0
    chunks: list[Chunk] = []
    texts: list[str] = []
    for art in to_embed:
        for c in chunk_article(art, settings.chunk_size, settings.chunk_overlap):
            chunk = Chunk(c.article_id, c.start, c.end, c.text, id=next_id)
            next_id += 1
            chunks.append(chunk)
            texts.append(embedding_text(art, chunk, settings.embed_title))

    embedder = (
        get_embedder(settings.model, settings.embed_batch_size, settings.embed_backend, settings.cache_dir)
        if (texts or previous is None)
        else None
    )
    if texts:
        report = (lambda n: progress("embed", n, len(texts))) if progress else None
        vectors = embedder.encode(texts, progress=report)
    else:
        vectors = None
    dimension = embedder.dimension if embedder else int(previous.manifest["dimension"])
    changes = Changes(
        remove_articles=removed + [a.id for a in updated],
        add_articles=to_embed,
        add_chunks=chunks,
        add_vectors=vectors,
    )
    fields = build_fields(settings, dimension)
    manifest = write_generation(
        index_dir, previous, changes, fields, AnnPolicy.from_settings(settings), bm25_outlet=settings.bm25_outlet
    )
    summary.articles = len(new)
    summary.chunks = int(manifest["chunks"])
    summary.embedded_chunks = len(chunks)
    summary.seconds = time.perf_counter() - t0
    return summary
