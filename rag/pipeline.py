"""The library's front door: load an index once, then retrieve and answer. The CLI and the app use this.

A `Pipeline` holds one loaded index, its retriever and the embedding model. `refresh()` notices a new index
generation (after `rag index` or an upload) and swaps the whole index in at once, so a long-running app keeps
answering from the old index while a rebuild runs and moves to the new one whole.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

from rag import conversation
from rag.answer import extractive
from rag.config import Settings
from rag.embedding import get_embedder
from rag.retrieval import Retriever
from rag.store import IndexData, load_index, read_manifest
from rag.types import Answer, Hit, SearchQuery, Turn


class Pipeline:
    """Question in, `Answer` out, over the index in `settings.index_dir`."""

    def __init__(self, settings: Settings, index_dir: Path | None = None) -> None:
        self.settings = settings
        self.index_dir = Path(index_dir or settings.index_dir)
        self._lock = threading.Lock()
        self._retriever: Retriever | None = None

    # -- loading -------------------------------------------------------------------------------------

    def _load(self) -> Retriever:
        index = load_index(self.index_dir, self.settings.model, verify=self.settings.verify_checksums)
        embedder = get_embedder(self.settings.model, self.settings.embed_batch_size)
        return Retriever(index, embedder, self.settings)

    @property
    def retriever(self) -> Retriever:
        with self._lock:
            if self._retriever is None:
                self._retriever = self._load()
            return self._retriever

    @property
    def index(self) -> IndexData:
        return self.retriever.index

    def refresh(self) -> bool:
        """Reload if the index on disk moved to a new generation; True when it did."""
        current = self._retriever
        if current is None:
            return False
        try:
            generation = read_manifest(self.index_dir)["generation"]
        except Exception:  # noqa: BLE001 - a broken manifest mid-write: keep serving the loaded index
            return False
        if generation == current.index.manifest["generation"]:
            return False
        fresh = self._load()  # built fully before the swap: readers never see half an index
        with self._lock:
            self._retriever = fresh
        return True

    # -- queries -------------------------------------------------------------------------------------

    def search_query(
        self,
        question: str,
        history: Sequence[Turn] = (),
        outlets: Sequence[str] = (),
        since: str | None = None,
        until: str | None = None,
    ) -> SearchQuery:
        """What will actually be searched for `question` in this conversation, with its filters."""
        text = conversation.resolve(question, history)
        return SearchQuery(text=text, question=question, outlets=list(outlets), since=since, until=until)

    def retrieve(self, query: SearchQuery, k: int | None = None) -> list[Hit]:
        return self.retriever.search(query, k)

    def ask(
        self,
        question: str,
        history: Sequence[Turn] = (),
        outlets: Sequence[str] = (),
        since: str | None = None,
        until: str | None = None,
    ) -> Answer:
        """Answer `question` (in the context of `history`) with quotes and citations, or refuse."""
        query = self.search_query(question, history, outlets, since, until)
        retriever = self.retriever
        hits = retriever.search(query)
        return extractive.answer(question, query, hits, retriever, self.settings)
