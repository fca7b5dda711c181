"""Shared by unit tests: a real `Retriever` over an in-memory index of a few articles, without a model.

Filters, BM25, sentence scores and the re-rank need no embedder; the FAISS index is empty (4 dimensions)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rag.chunking import chunk_article
from rag.config import Settings
from rag.retrieval import Retriever
from rag.store import IndexData, new_faiss_index
from rag.types import Article, Chunk


def memory_retriever(
    articles: Sequence[Article], settings: Settings | None = None, size: int = 1000, overlap: int = 200
) -> Retriever:
    """A Retriever over `articles`, chunked at `size`/`overlap`, chunk ids numbered in order."""
    chunks: dict[int, Chunk] = {}
    for art in articles:
        for c in chunk_article(art, size, overlap):
            chunks[len(chunks)] = Chunk(c.article_id, c.start, c.end, c.text, id=len(chunks))
    index = IndexData(
        path=Path("unused"),
        manifest={"dimension": 4},
        faiss_index=new_faiss_index(4),
        articles={a.id: a for a in articles},
        hashes={a.id: a.hash for a in articles},
        chunks=chunks,
    )
    return Retriever(index, embedder=None, settings=settings or Settings())
