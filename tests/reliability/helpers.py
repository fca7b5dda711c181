"""Shared helpers for the reliability tests: running the real `rag` CLI, checking an index against its corpus.

`run_rag` starts `python -m rag.cli` in a child process with a clean `RAG_*` environment, the way a user
runs it. `expected_index` says what a clean build of a corpus folder commits (articles with their content
hashes, chunk spans), computed without the model, so every crash and lock test can compare what is on disk
with what should be there.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.chunking import chunk_article
from rag.config import Settings
from rag.indexer import embedding_text
from rag.ingest import read_corpus
from rag.store import IndexData

ROOT = Path(__file__).resolve().parents[2]
MULTIHOP = ROOT.parent / "shared" / "eval" / "multihop_rag" / "corpus.jsonl"
REBUILD_HINT = "rag index --rebuild"


def rag_env(**overrides: object) -> dict[str, str]:
    """The current environment without any `RAG_*` variable, plus `overrides` (RAG_ names, as strings)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env.update({k: str(v) for k, v in overrides.items()})
    env["PYTHONUNBUFFERED"] = "1"
    return env


def rag_command(*args: object) -> list[str]:
    return [sys.executable, "-m", "rag.cli", *map(str, args)]


def run_rag(*args: object, env: dict[str, str] | None = None, stdin: str | None = None, timeout: float = 600):
    """Run `rag ARGS…` to completion; returns the CompletedProcess (text mode)."""
    return subprocess.run(
        rag_command(*args),
        env=env or rag_env(),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )


@dataclass
class Expected:
    """What a clean build of a corpus folder holds: article id → content hash, and every chunk span."""

    hashes: dict[str, str]
    spans: set[tuple[str, int, int]]

    @property
    def articles(self) -> int:
        return len(self.hashes)

    @property
    def chunks(self) -> int:
        return len(self.spans)


def expected_index(settings: Settings) -> Expected:
    read = read_corpus(Path(settings.corpus_dir), max_bytes=int(settings.max_file_mb * 1024 * 1024))
    spans = {
        (c.article_id, c.start, c.end)
        for a in read.articles
        for c in chunk_article(a, settings.chunk_size, settings.chunk_overlap)
    }
    return Expected({a.id: a.hash for a in read.articles}, spans)


def index_matches(index: IndexData, expected: Expected) -> bool:
    """The loaded index holds exactly the expected articles and chunk spans (ids and vectors consistent)."""
    spans = {(c.article_id, c.start, c.end) for c in index.chunks.values()}
    return (
        index.hashes == expected.hashes
        and spans == expected.spans
        and index.faiss_index.ntotal == len(index.chunks) == index.manifest["chunks"]
    )


def vectors_align(index: IndexData, embedder, chunk_ids: list[int], with_title: bool = True) -> float:
    """Lowest cosine between the stored vector of each chunk and a fresh embedding of its text.

    Close to 1.0 when every FAISS id points at the vector of its own chunk; a vector stored under the wrong
    id (or of a stale version of an article) gives a much lower value.
    """
    texts = [embedding_text(index.articles[index.chunks[c].article_id], index.chunks[c], with_title) for c in chunk_ids]
    fresh = embedder.encode(texts)
    stored = np.vstack([index.faiss_index.reconstruct(int(c)) for c in chunk_ids])
    return float(np.min(np.sum(fresh * stored, axis=1)))
