"""The library's front door: load an index once, then retrieve and answer. The CLI and the app use this.

A `Pipeline` holds one loaded index, its retriever and the embedding model. `refresh()` notices a new index
generation (after `rag index` or an upload) and swaps the whole index in at once, so a long-running app keeps
answering from the old index while a rebuild runs and moves to the new one whole.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

from rag import conversation
from rag.answer import registry
from rag.answer.base import Answerer
from rag.backends import open_backend
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
        #: Who writes the answers (`Settings.llm`, looked up in rag/answer/registry.py).
        self.answerer: Answerer = registry.get(settings.llm, settings)

    # -- loading -------------------------------------------------------------------------------------

    def _load(self) -> Retriever:
        if self.settings.backend == "local":
            store: object = load_index(self.index_dir, self.settings.model, verify=self.settings.verify_checksums)
        else:  # another storage backend (rag/backends/), e.g. PostgreSQL
            store = open_backend(self.settings, self.index_dir)
        manifest = store.manifest  # type: ignore[attr-defined]
        # Queries are embedded by the backend the index was built with (older indexes: torch), never mixed.
        backend = str(manifest.get("embed_backend", "torch"))
        embedder = get_embedder(self.settings.model, self.settings.embed_batch_size, backend, self.settings.cache_dir)
        return Retriever(store, embedder, self.settings)  # type: ignore[arg-type]

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
            generation: str | None
            if self.settings.backend == "local":
                generation = read_manifest(self.index_dir)["generation"]
            else:
                generation = current.backend.generation()
        except Exception:  # noqa: BLE001 - a broken manifest mid-write (or the database away): keep serving
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
        rewrite_note, llm_note, text = "", "", None
        if history:  # an answerer with a model may rewrite the follow-up itself (None: it did not)
            text, llm_note = self.answerer.rewrite(question, history)
        if text is None:
            # Follow-ups resolved without an LLM (rag/conversation.py); a question that stands alone is unchanged.
            known = self.retriever.outlets if history else []
            specificity = conversation.corpus_specificity(self.retriever) if history else None
            resolution = conversation.resolve_query(question, history, known, specificity)
            text, rewrite_note = resolution.text, resolution.note()
            if not outlets:  # "What did Dawn say?" / "And the other outlets?" (never widens a user's filter)
                outlets = list(resolution.only_outlets) or [o for o in known if o not in resolution.exclude_outlets]
                outlets = [] if len(outlets) == len(known) else outlets
        query = SearchQuery(text=text, question=question, outlets=list(outlets), since=since, until=until)
        if llm_note:
            query.notes.append(llm_note)
        if rewrite_note:
            query.notes.append(rewrite_note)
        if self.settings.infer_filters:
            # Sources and dates the question names become per-source sub-searches (see rag/query.py).
            found = self.retriever.analyse(text)
            query.subqueries = found.subqueries
            query.unknown_sources = found.unknown_sources
            query.notes.extend(found.notes)
        return query

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
        return self.answerer.answer(question, query, retriever.search(query), retriever)

    def ask_stream(
        self,
        question: str,
        history: Sequence[Turn] = (),
        outlets: Sequence[str] = (),
        since: str | None = None,
        until: str | None = None,
    ) -> Iterator[str | Answer]:
        """Like `ask`, for a chat: yields text chunks as a model writes them, then exactly one final `Answer`.

        The chunks are provisional (unverified); the final Answer's text replaces them. With the extractive
        answerer (or a refusal) only the Answer is yielded.
        """
        query = self.search_query(question, history, outlets, since, until)
        retriever = self.retriever
        yield from self.answerer.stream(question, query, retriever.search(query), retriever)
