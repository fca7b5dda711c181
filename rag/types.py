"""The typed objects that flow through the pipeline, defined once.

    Article ──split──▶ Chunk ──embed/index──▶ Hit ──answer──▶ Answer (with Citations)

Spans are character offsets into `Article.body`, so `body[start:end]` is always the exact text a chunk or a
citation refers to.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol

UNKNOWN_OUTLET = "Unknown outlet"

#: The two kinds of inferred sub-search (see `SubQuery`).
SubQueryKind = Literal["source", "part"]
#: What a question asks for, read from its question word (`rag.text.asks`).
AnswerKind = Literal["number", "date", "time", "duration", "name"]


def content_hash(*parts: str) -> str:
    """SHA-256 over the parts, separated by a byte that cannot occur in text (decides 'changed?')."""
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()


@dataclass(frozen=True, slots=True)
class Article:
    """One news article, as read from the corpus folder.

    `id` is the article's URL when it has one, else its path relative to the corpus (plus `#line` for
    JSON Lines records): the same story saved under two file names is still one article.
    `published` is ISO 8601 (`YYYY-MM-DD`, or `YYYY-MM` when only the month is known), or "".
    """

    id: str
    outlet: str
    title: str
    published: str
    url: str
    body: str
    source: str = ""  # file (and line) it came from, for messages only

    @property
    def hash(self) -> str:
        """Content hash over everything that is indexed; the source path is deliberately left out."""
        return content_hash(self.outlet, self.title, self.published, self.url, self.body)


@dataclass(frozen=True, slots=True)
class Chunk:
    """A passage of an article: `article.body[start:end] == text`."""

    article_id: str
    start: int
    end: int
    text: str
    id: int = -1  # row id in the index (FAISS id); -1 until stored


@dataclass(frozen=True, slots=True)
class ArticleRef:
    """What a hit or citation needs to know about its article, without the body."""

    id: str
    outlet: str
    title: str
    published: str
    url: str


@dataclass(slots=True)
class Hit:
    """A retrieved chunk with its fused score and the per-retriever evidence behind it."""

    chunk: Chunk
    article: ArticleRef
    score: float
    dense: float | None = None  # cosine similarity, if the dense retriever returned it
    bm25: float | None = None  # raw BM25 score, if the lexical retriever returned it


class HitSpan(Protocol):
    """A span of an article body inside one hit's passage: what a quote is cut from (the answerers' candidate
    sentences, `rag.answer.evidence.Candidate` and `rag.answer.support.Candidate`, are ones)."""

    @property
    def hit(self) -> Hit: ...
    @property
    def start(self) -> int: ...
    @property
    def end(self) -> int: ...


@dataclass(frozen=True, slots=True)
class SubQuery:
    """A search inferred from the question (see `rag.reading`), merged with the main search. Two kinds:

    - "source": a source the question names ("the TechCrunch article on October 6"): the whole question is
      searched within that outlet (and date), so each named source is represented among the passages;
      `text` is the clause around the name, which the passages of that source should match.
    - "part": one clause of a many-part question ("…, became a prominent voice as reported by Fortune, and
      …"): the clause is searched on its own (within the outlets it names), so every part finds evidence.

    Inferred, so it narrows nothing the user asked for: results outside it still come from the main search.
    """

    text: str
    outlets: tuple[str, ...] = ()
    since: str | None = None  # inclusive ISO date
    until: str | None = None  # inclusive ISO date
    kind: SubQueryKind = "source"


@dataclass(slots=True)
class SearchQuery:
    """What is actually searched: the (possibly rewritten) text and the filters applied."""

    text: str
    question: str = ""  # the user's words, before any rewrite
    outlets: list[str] = field(default_factory=list)
    since: str | None = None  # inclusive ISO date
    until: str | None = None  # inclusive ISO date
    #: Human-readable notes on what was inferred (e.g. an outlet recognised in the question).
    notes: list[str] = field(default_factory=list)
    #: Per-source searches inferred from the question (see `rag.reading`), merged into the results.
    subqueries: list[SubQuery] = field(default_factory=list)
    #: Sources the question names that the corpus has no articles from ("a Bloomberg article").
    unknown_sources: list[str] = field(default_factory=list)
    #: For a follow-up, the previous answer's text: a quote it already gave grows by what comes next.
    said: str = ""
    #: The kind of answer the question asks for, inherited by a bare "And X?" from the question it continues;
    #: None: its words do not say.
    asks: AnswerKind | None = None
    #: For a follow-up, the articles the last answers cited: the question's own words are searched within them
    #: too ("How heavy is it?" finds the review's weight passage, which the carried words do not).
    focus: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Citation:
    """A quoted passage and where it comes from; `quote == body[start:end]` of article `article_id`."""

    n: int
    outlet: str
    title: str
    published: str
    url: str
    article_id: str
    quote: str
    start: int
    end: int
    chunk_id: int = -1

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("chunk_id")
        return d


@dataclass(slots=True)
class Answer:
    """The answer text (with `[n]` markers), its citations, and whether the system declined to answer."""

    question: str
    text: str
    citations: list[Citation]
    refused: bool
    search_query: str = ""
    filters: dict[str, Any] = field(default_factory=dict)
    #: Who wrote it: the answerer's setting ("extractive", "ollama:llama3.2"; rag/answer/registry.py), or
    #: "extractive" when a configured model fell back. Open-ended (plugins add answerers), so not a Literal.
    answerer: str = "extractive"
    hits: list[Hit] = field(default_factory=list)  # the passages the answer was drawn from
    warnings: list[str] = field(default_factory=list)

    #: The system's own opening line, when it prefaces the quotes ("Dawn does not mention Maduro. Its passages
    #: closest to the question:"); `text` starts with it.
    preface: str = ""

    @property
    def cited_text(self) -> str:
        """What the answer gives as its sources' words: its text without the preface, then the quotes, so that
        a score never counts a name the system's own line repeats from the question."""
        body = self.text[len(self.preface) :] if self.preface and self.text.startswith(self.preface) else self.text
        return "\n".join([body, *(c.quote for c in self.citations)])

    def to_json(self, qid: str | None = None) -> dict[str, Any]:
        """The CLI's `rag ask --json` object (the contract other tools depend on)."""
        return {
            "id": qid,
            "question": self.question,
            "answer": self.text,
            "refused": self.refused,
            "search_query": self.search_query,
            "filters": self.filters,
            "answerer": self.answerer,
            "preface": self.preface,
            "citations": [c.to_json() for c in self.citations],
        }


@dataclass(frozen=True, slots=True)
class Turn:
    """One earlier exchange of a conversation, as the follow-up resolver sees it."""

    question: str
    answer: str = ""
    search_query: str = ""
    outlets: tuple[str, ...] = ()  # the outlets its answer cited ("and the other outlets?" excludes them)
    articles: tuple[str, ...] = ()  # the ids of the articles its answer cited ("the trial" may be in them)

    @classmethod
    def from_answer(cls, answer: Answer) -> Turn:
        """The turn an `Answer` adds to its conversation."""
        cited = tuple(dict.fromkeys(c.outlet for c in answer.citations))
        articles = tuple(dict.fromkeys(c.article_id for c in answer.citations))
        return cls(answer.question, answer.text, answer.search_query, cited, articles)
