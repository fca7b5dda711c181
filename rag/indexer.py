"""Incremental index updates: hash every article, embed only what is new or changed, delete what left.

    corpus folder ──read──▶ articles ──diff by id + content hash──▶ added / updated / removed / unchanged
    added + updated ──chunk, embed──▶ new generation (store.write_generation) ──▶ manifest switch

One writer at a time: a file lock in the index folder makes a second `rag index` wait (up to
`Settings.lock_timeout` seconds) and then exit with a clear message, never interleave.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import filelock
import numpy as np

from rag.chunking import chunk_article, chunk_sentences
from rag.config import Settings
from rag.embedding import get_embedder
from rag.ingest import Problem, read_corpus
from rag.sentence_vectors import SentenceVectors
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

#: The files the last update could not use and why (JSON, beside the index files; read by the corpus page).
PROBLEMS_FILE = "problems.json"

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
    engine: str = "local",
    ray_address: str | None = None,
) -> IndexSummary:
    """Bring the index in `index_dir` (or the `settings.backend` database) up to date with `corpus_dir`.

    `engine` embeds here ("local") or on a Ray cluster ("ray", at `ray_address` or a local one it starts)."""
    corpus_dir = Path(corpus_dir or settings.corpus_dir)
    if settings.backend == "postgres":
        return _update_postgres(settings, corpus_dir, rebuild, progress, engine, ray_address)
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
        return _update_locked(settings, corpus_dir, index_dir, rebuild, progress, engine, ray_address)
    finally:
        lock.release()


def chunk_articles(settings: Settings, articles: list[Article], next_id: int) -> tuple[list[Chunk], list[str]]:
    """The chunks of `articles` with ids from `next_id` on, and the text embedded for each."""
    chunks: list[Chunk] = []
    texts: list[str] = []
    for art in articles:
        for c in chunk_article(art, settings.chunk_size, settings.chunk_overlap):
            chunk = Chunk(c.article_id, c.start, c.end, c.text, id=next_id)
            next_id += 1
            chunks.append(chunk)
            texts.append(embedding_text(art, chunk, settings.embed_title))
    return chunks, texts


def sentence_spans_in(chunk: Chunk, text: str) -> list[tuple[int, int]]:
    """The quotable sentences of `chunk` (`chunk_sentences`) as spans into its embedded `text`."""
    shift = len(text) - len(chunk.text) - chunk.start  # the title line before the chunk's own text
    return [(s + shift, e + shift) for s, e in chunk_sentences(chunk)]


def sentence_vectors(chunks: list[Chunk], rows: list[np.ndarray], dimension: int) -> SentenceVectors:
    """The per-chunk sentence rows of `Embedder.encode_spans`, keyed by chunk id and body span."""
    return SentenceVectors.concat(
        (SentenceVectors.of(c.id, chunk_sentences(c), r) for c, r in zip(chunks, rows, strict=True)), dimension
    )


def embed_articles(
    settings: Settings,
    articles: list[Article],
    next_id: int,
    progress: Progress | None,
    engine: str = "local",
    ray_address: str | None = None,
) -> tuple[list[Chunk], np.ndarray | None, int, SentenceVectors | None]:
    """Chunk and embed `articles` here (`engine="local"`) or on a Ray cluster (`"ray"`, rag/ray_ingest.py).

    Returns (chunks, vectors or None, dimension or 0 when nothing was embedded and no model was loaded, the
    vectors of the chunks' sentences from the same model runs)."""
    if engine == "ray":
        from rag import ray_ingest

        return ray_ingest.embed_articles(settings, articles, next_id, progress, ray_address)
    chunks, texts = chunk_articles(settings, articles, next_id)
    if not texts:
        return chunks, None, 0, None
    embedder = get_embedder(settings.model, settings.embed_batch_size, settings.embed_backend, settings.cache_dir)
    report = (lambda n: progress("embed", n, len(texts))) if progress else None
    spans = [sentence_spans_in(c, t) for c, t in zip(chunks, texts, strict=True)]
    vectors, rows = embedder.encode_spans(texts, spans, progress=report)
    return chunks, vectors, embedder.dimension, sentence_vectors(chunks, rows, embedder.dimension)


def _model_dimension(settings: Settings) -> int:
    return get_embedder(settings.model, settings.embed_batch_size, settings.embed_backend, settings.cache_dir).dimension


def _update_locked(
    settings: Settings,
    corpus_dir: Path,
    index_dir: Path,
    rebuild: bool,
    progress: Progress | None,
    engine: str = "local",
    ray_address: str | None = None,
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
    write_problems(index_dir, read.problems)

    new, added, updated, removed = _diff(previous.hashes if previous else {}, read.articles, summary)

    if previous is not None and not (added or updated or removed):
        summary.articles, summary.chunks = len(previous.articles), len(previous.chunks)
        summary.seconds = time.perf_counter() - t0
        return summary

    to_embed = added + updated
    next_id = max(previous.chunks, default=-1) + 1 if previous else 0
    chunks, vectors, dim, sentences = embed_articles(settings, to_embed, next_id, progress, engine, ray_address)
    dimension = dim or (int(previous.manifest["dimension"]) if previous else _model_dimension(settings))
    changes = Changes(
        remove_articles=removed + [a.id for a in updated],
        add_articles=to_embed,
        add_chunks=chunks,
        add_vectors=vectors,
        add_sentences=sentences,
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


def write_problems(index_dir: Path, problems: list[Problem]) -> None:
    """Record the last update's problems in `index_dir/problems.json` (atomically; only when they changed)."""
    path = index_dir / PROBLEMS_FILE
    data = [{"source": p.source, "message": p.message, "skipped": p.skipped} for p in problems]
    try:
        if path.is_file() and json.loads(path.read_text(encoding="utf-8")) == data:
            return
    except (OSError, ValueError):
        pass  # unreadable: rewrite it
    tmp = path.with_name(f".{PROBLEMS_FILE}.tmp")
    try:
        with tmp.open("w", encoding="utf-8") as f:
            json.dump(data, f, ensure_ascii=False, indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)  # a report is a convenience: never fail an update for it


def read_problems(index_dir: Path) -> list[Problem]:
    """The problems the last update recorded (empty when none were, or the file is missing or unreadable)."""
    try:
        data = json.loads((Path(index_dir) / PROBLEMS_FILE).read_text(encoding="utf-8"))
        return [Problem(str(d["source"]), str(d["message"]), bool(d.get("skipped", True))) for d in data]
    except (OSError, ValueError, KeyError, TypeError):
        return []


def corpus_mismatch(index: IndexData, corpus_dir: Path) -> str | None:
    """A message when the corpus folder clearly is not the one the index was built from.

    Indexing an upload syncs the index with the *whole* corpus folder, so pointing the app at the wrong
    folder would silently drop every indexed article. When none of the indexed articles' files exist in
    the folder, refuse instead.
    """
    sources = {a.source.split("#", 1)[0] for a in index.articles.values() if a.source}
    if not sources or any((corpus_dir / s).is_file() for s in sources):
        return None
    return (
        f"the index in '{index.path}' was not built from the corpus folder '{corpus_dir}' (none of its "
        "articles' files are there); set RAG_CORPUS_DIR to the folder it was built from, or rebuild it with "
        "`rag index --corpus <folder>`"
    )


def _diff(old_hashes: dict[str, str], articles: list[Article], summary: IndexSummary):  # noqa: ANN202
    new = {a.id: a for a in articles}
    added = [a for aid, a in new.items() if aid not in old_hashes]
    updated = [a for aid, a in new.items() if aid in old_hashes and old_hashes[aid] != a.hash]
    removed = [aid for aid in old_hashes if aid not in new]
    summary.added, summary.updated, summary.removed = len(added), len(updated), len(removed)
    summary.unchanged = len(new) - len(added) - len(updated)
    summary.added_ids = [a.id for a in added]
    summary.updated_ids = [a.id for a in updated]
    summary.removed_ids = removed
    return new, added, updated, removed


def _update_postgres(
    settings: Settings,
    corpus_dir: Path,
    rebuild: bool,
    progress: Progress | None,
    engine: str,
    ray_address: str | None,
) -> IndexSummary:
    """The same update against PostgreSQL: diff against its hashes, embed, one transaction (rag/backends/postgres)."""
    from rag.backends.postgres import PostgresBackend

    t0 = time.perf_counter()
    dsn = settings.pg_dsn
    manifest, old_hashes, top = PostgresBackend.current(dsn)  # type: ignore[arg-type]
    if manifest is not None and not rebuild:
        manifest.setdefault("embed_backend", "torch")
        check_compatible(manifest, settings.model, build_fields(settings, manifest["dimension"]))
    read = read_corpus(corpus_dir, max_bytes=int(settings.max_file_mb * 1024 * 1024))
    summary = IndexSummary(problems=read.problems)
    base = {} if rebuild else old_hashes
    new, added, updated, removed = _diff(base, read.articles, summary)
    if manifest is not None and not rebuild and not (added or updated or removed):
        summary.articles = len(new)
        summary.chunks = int(manifest.get("chunks", 0))
        summary.seconds = time.perf_counter() - t0
        return summary
    to_embed = added + updated
    chunks, vectors, dim, sentences = embed_articles(settings, to_embed, top + 1, progress, engine, ray_address)
    dimension = dim or (int(manifest["dimension"]) if manifest else _model_dimension(settings))
    remove = list(old_hashes) if rebuild else removed + [a.id for a in updated]
    changes = Changes(
        remove_articles=remove, add_articles=to_embed, add_chunks=chunks, add_vectors=vectors, add_sentences=sentences
    )
    committed = PostgresBackend.apply(
        dsn,  # type: ignore[arg-type]
        changes,
        build_fields(settings, dimension),
        manifest["generation"] if manifest else None,
        ann_threshold=settings.ann_threshold,
        hnsw_m=settings.hnsw_m,
        hnsw_ef_construction=settings.hnsw_ef_construction,
        bm25_outlet=settings.bm25_outlet,
    )
    summary.articles = len(new)
    summary.chunks = int(committed["chunks"])
    summary.embedded_chunks = len(chunks)
    summary.seconds = time.perf_counter() - t0
    return summary
