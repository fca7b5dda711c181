"""The answering seam: what an answerer is given (`CorpusStats`) and what it must do (`Answerer`).

    Pipeline ──question, SearchQuery, Hits, CorpusStats──▶ Answerer.answer / .stream ──▶ Answer
             └─ registry.get(Settings.llm) picks the answerer by name (rag/answer/registry.py)

`CorpusStats` is the read-only view of the index an answerer may use: term statistics, the outlets, article
bodies, the embedding model and the sentence vectors stored at index time. `rag.retrieval.Retriever`
satisfies it; a test can satisfy it with a few lines. No answerer reaches past it into the retriever.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Protocol

from rag.types import Answer, Hit, SearchQuery, Turn

if TYPE_CHECKING:
    import numpy as np

    from rag.sentence_vectors import SentenceVectors

#: What `Answerer.stream` yields: provisional text chunks (a model's unchecked words), then one final Answer.
AnswerStream = Iterator[str | Answer]


class TextEncoder(Protocol):
    """The embedding model as answerers use it: unit-length float32 rows, one per text."""

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts (batched as the model sees fit)."""
        ...

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Query-time texts, each alone, the recent ones remembered (the retriever embedded the same parts)."""
        ...


class CorpusStats(Protocol):
    """What an answerer may read about the corpus behind the hits (`rag.retrieval.Retriever` is one)."""

    @property
    def outlets(self) -> Sequence[str]:
        """Every outlet with articles in the index."""
        ...

    @property
    def embedder(self) -> TextEncoder | None:
        """The model the index was embedded with; None: no model at hand (dense signals are left out)."""
        ...

    def idf(self, term: str) -> float:
        """BM25 inverse document frequency of a (stemmed) term; a term the corpus never uses counts as rarest."""
        ...

    def knows(self, term: str) -> bool:
        """Whether a (stemmed) term occurs anywhere in the indexed text."""
        ...

    def body(self, article_id: str) -> str:
        """The full text of an indexed article (the spans of hits and citations index into it)."""
        ...

    def sentences(self, chunk_ids: Sequence[int]) -> SentenceVectors | None:
        """The sentence vectors stored at index time for these chunks; None: the index has none."""
        ...

    def repeated(self, sentence: str) -> bool:
        """Whether `sentence` recurs across the corpus's articles (page furniture: `rag.boilerplate`)."""
        ...


class Answerer(Protocol):
    """Writes the `Answer` to a question from the retrieved hits. Registered by name (rag/answer/registry.py).

    Capabilities the pipeline and the UI read instead of testing names:
    - `needs_llm`: a language model writes the answer (the UI says so, and shows why when it fell back);
    - `streams`: `stream` yields text before the final Answer (otherwise it yields the Answer only).
    """

    @property
    def name(self) -> str:
        """The setting that chose it, as shown and recorded in `Answer.answerer` ("extractive", "ollama:llama3.2")."""
        ...

    @property
    def needs_llm(self) -> bool: ...

    @property
    def streams(self) -> bool: ...

    def answer(self, question: str, query: SearchQuery, hits: list[Hit], corpus: CorpusStats) -> Answer:
        """The answer to `question` from `hits` (retrieved for `query`), or a refusal. Never raises for a model
        that cannot be used: it answers without it and says why in `Answer.warnings`."""
        ...

    def stream(self, question: str, query: SearchQuery, hits: list[Hit], corpus: CorpusStats) -> AnswerStream:
        """Like `answer`, yielding provisional text chunks first; always ends with exactly one Answer."""
        ...

    def rewrite(self, question: str, history: Sequence[Turn]) -> tuple[str | None, str]:
        """A follow-up made standalone by this answerer, with a note for the user; (None, note) leaves it to
        the default resolver (`rag.reading`), which is what an answerer without a model always does."""
        ...
