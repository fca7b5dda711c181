"""The index as a LangChain retriever, so it plugs into a user's own chains.

    retriever = NewsRetriever.from_settings(Settings(index_dir="index"), k=5, outlets=["Dawn"])
    docs = retriever.invoke("What did Stephen Miller say?")   # list[Document]

Each `Document` is one retrieved passage, `page_content` its exact text, and `metadata` what a citation needs:
outlet, title, published, url, article_id, chunk_id, start and end (the span in the article body, so
`article.body[start:end] == page_content`) and the fused score. The search is the product's own (hybrid,
question analysis, re-rank): a chain built on it retrieves exactly what `rag retrieve` shows.
"""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import Field

from rag.config import Settings
from rag.pipeline import Pipeline
from rag.types import Hit


def to_document(hit: Hit) -> Document:
    """One hit as a LangChain document with its citation metadata."""
    a, c = hit.article, hit.chunk
    meta: dict[str, Any] = {
        "outlet": a.outlet,
        "title": a.title,
        "published": a.published,
        "url": a.url,
        "article_id": a.id,
        "chunk_id": c.id,
        "start": c.start,
        "end": c.end,
        "score": hit.score,
    }
    return Document(page_content=c.text, metadata=meta)


class NewsRetriever(BaseRetriever):
    """LangChain `BaseRetriever` over a loaded `Pipeline` (filters optional, as in `rag retrieve`)."""

    pipeline: Pipeline
    k: int = Field(default=8, ge=1, description="Passages returned per query.")
    outlets: list[str] = Field(default_factory=list, description="Only these outlets (empty: all).")
    since: str | None = Field(default=None, description="Only articles published on or after (ISO date).")
    until: str | None = Field(default=None, description="Only articles published on or before (ISO date).")

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: Any) -> NewsRetriever:
        return cls(pipeline=Pipeline(settings), **kwargs)

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        search = self.pipeline.search_query(query, outlets=self.outlets, since=self.since, until=self.until)
        return [to_document(h) for h in self.pipeline.retrieve(search, self.k)]
