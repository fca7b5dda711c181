"""The library's front door: load an index once, then retrieve and answer. The CLI and the app use this.

A `Pipeline` holds one loaded index, its retriever and the embedding model. `refresh()` notices a new index
generation (after `rag index` or an upload) and swaps the whole index in at once, so a long-running app keeps
answering from the old index while a rebuild runs and moves to the new one whole.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from rag.answer import registry
from rag.answer.base import Answerer
from rag.backends import open_backend
from rag.config import Settings
from rag.embedding import get_embedder
from rag.reading import Reading
from rag.retrieval import Retriever
from rag.store import IndexData, load_index, read_manifest
from rag.text.asks import asks_yes_no, holds_kind
from rag.text.tokens import tokenize
from rag.types import Answer, AnswerKind, Hit, SearchQuery, Turn


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
        return self._read(question, history, outlets, since, until)[1]

    def _read(
        self, question: str, history: Sequence[Turn], outlets: Sequence[str], since: str | None, until: str | None
    ) -> tuple[Reading, SearchQuery]:
        """The question read once (rag/reading.py: follow-up, outlets, dates, parts) and the search it makes."""
        llm_note, text = "", None
        if history:  # an answerer with a model may rewrite the follow-up itself (None: it did not)
            text, llm_note = self.answerer.rewrite(question, history)
        retriever, infer = self.retriever, self.settings.infer_filters
        # Without a model's rewrite the reader resolves follow-ups itself; a question that stands alone is unchanged.
        reading = retriever.read(question, history, infer) if text is None else retriever.read(text, (), infer)
        # "What did Dawn say?" / "And the other outlets?" narrow the search (never a user's filter, never wider).
        narrowed = () if outlets else reading.narrowed(retriever.outlets)
        query = SearchQuery(reading.text, question, list(outlets or narrowed), since, until, asks=reading.asks)
        query.notes += [n for n in (llm_note, reading.note()) if n]
        if reading.follow_up and history:
            query.said = history[-1].answer
            if reading.words and not narrowed:
                # "How heavy is it?": what it asks is searched within the articles the last two answers cited.
                query.focus = list(dict.fromkeys(a for turn in history[-2:][::-1] for a in turn.articles))
                if query.focus and self.settings.focus_weight > 0:
                    n = len(query.focus)
                    asked = " ".join(reading.words)
                    query.notes.append(f"also searched “{asked}” in the {n} article{'s' * (n > 1)} cited before")
        if infer:  # sources and dates the question names become per-source sub-searches
            query.subqueries = list(reading.subqueries)
            query.unknown_sources = list(reading.unknown_sources)
            query.notes.extend(reading.notes)
        return reading, query

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
        reading, query = self._read(question, history, outlets, since, until)
        retriever = self.retriever
        answer = self.answerer.answer(question, query, retriever.search(query), retriever)
        looser = self._loosen(reading, query) if answer.refused else None
        if looser is not None:
            retry = self.answerer.answer(question, query, retriever.search(query), retriever)
            if not retry.refused:
                return self._explain(retry, looser, outlets, missed=(reading, answer))
        return self._explain(answer, reading, outlets)

    @staticmethod
    def _loosen(reading: Reading, query: SearchQuery) -> Reading | None:
        """Resolved, but nothing answers with the carried names: the looser reading (`Reading.looser`), with
        `query` changed to search it; None (and `query` unchanged) when there is none."""
        looser = reading.looser()
        if looser is not None:
            query.text = looser.text
            query.notes = [looser.note() if n == reading.note() else n for n in query.notes]
        return looser

    def _explain(
        self, answer: Answer, reading: Reading, outlets: Sequence[str], missed: tuple[Reading, Answer] | None = None
    ) -> Answer:
        """When the reader narrowed the outlets itself ("And the other outlets?"), the answer says so: its
        filters are marked `narrowed` (they are not the user's), and a refusal says which outlets lack what.
        `missed`: the reading (and refusal) that came before a looser retry found this answer; the answer then
        opens with what those outlets lack ("Evrim Ağacı and Truthout do not mention Stephen Miller."), so
        that quotes on the rest of the question are not read as being about it."""
        narrowed = answer.filters.get("outlets") or []
        if outlets or not narrowed:
            return _without_kind(answer, reading.asks)
        answer.filters["narrowed"] = True
        if answer.refused:
            answer.text = reading.narrowed_refusal(narrowed, (h.chunk.text for h in answer.hits))
        elif missed is not None:
            before, texts = missed[0], [h.chunk.text for h in missed[1].hits]
            if before.topic and not before.topic_in(texts):  # when they name it, the retry may answer it
                lacking = before.narrowed_refusal(narrowed, texts)
                _preface(answer, f"{lacking} {_their(narrowed)} passages closest to the rest of the question:")
        elif (absent := reading.unmentioned_names(narrowed, self._mentioned(narrowed))) is not None:
            # Answered, but the carried names are not the other outlets' subject: the quotes are the closest
            # they come ("And what did the other outlets report?" after a question on Sheinbaum).
            _preface(answer, f"{absent} {_their(narrowed)} passages closest to the question:")
        elif (word := reading.rarest_carried(self.retriever.idf)) is not None:
            # "What did the other outlets say?" after a question on the February pause: quotes on the boat strikes
            # in general are the closest those outlets come, and the answer says so when none of them uses the
            # story's rarest word at all (searched in all their text, not only in what was retrieved).
            terms = tokenize([word])[0]
            if not any(self.retriever.mentions(t, narrowed) for t in terms):
                lacking = reading.unmentioned(narrowed, word)
                _preface(answer, f"{lacking} {_their(narrowed)} passages closest to the question:")
        return answer if answer.preface else _without_kind(answer, reading.asks)

    def _mentioned(self, outlets: Sequence[str]) -> Callable[[str], bool]:
        """Whether any article of `outlets` holds every term of a name (searched in all their text)."""

        def mentioned(name: str) -> bool:
            return all(self.retriever.mentions(t, outlets) for t in tokenize([name])[0])

        return mentioned

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
        reading, query = self._read(question, history, outlets, since, until)
        retriever = self.retriever
        streamed = False
        for item in self.answerer.stream(question, query, retriever.search(query), retriever):
            if not isinstance(item, Answer):
                streamed = True
                yield item
                continue
            # As `ask`: a refusal (nothing was streamed before it) is retried with the looser reading.
            looser = self._loosen(reading, query) if item.refused and not streamed else None
            if looser is not None:
                retry = self.answerer.answer(question, query, retriever.search(query), retriever)
                if not retry.refused:
                    yield self._explain(retry, looser, outlets, missed=(reading, item))
                    return
            yield self._explain(item, reading, outlets)


#: What a question asking for a figure, a date, a length or a time of day asks for, as the answer's line says it.
_KIND_WORDS = {"number": "a figure", "date": "a date", "duration": "a length of time", "time": "a time of day"}


def _without_kind(answer: Answer, kind: AnswerKind | None) -> Answer:
    """An extractive answer to "How old is Stephen Miller?" whose quotes hold no figure opens by saying so: the
    quotes are the passages closest to the question, not its answer (`rag.text.asks.holds_kind`)."""
    what = _KIND_WORDS.get(kind) if kind is not None else None
    if kind is None or what is None or answer.refused or answer.answerer != "extractive" or not answer.citations:
        return answer
    if asks_yes_no(answer.question):  # "Did TechCrunch report X when…?" asks yes or no, not for a date
        return answer
    if not any(holds_kind(c.quote, kind) for c in answer.citations):
        _preface(answer, f"None of the passages found gives {what}. The closest to the question:")
    return answer


def _preface(answer: Answer, line: str) -> None:
    """Open `answer` with the system's own `line` (kept apart in `Answer.preface`: not a source's words)."""
    answer.preface = line
    answer.text = f"{line}\n{answer.text}"


def _their(outlets: Sequence[str]) -> str:
    return "Its" if len(outlets) == 1 else "Their"
