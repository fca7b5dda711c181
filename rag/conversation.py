"""Follow-up questions: turn "What did he say the goal was?" into a query that can be searched alone.

    question + earlier turns ──rag.followup: leans on them?──no──▶ searched exactly as asked
                                          │ yes
                                          ▼
        question + what the conversation is about (names first, then the most specific topic words)
        "And the other outlets?" / "What did Dawn say?" ──▶ the same topic, within those outlets

No LLM. A self-contained question is searched exactly as asked, so a change of topic is never polluted by what
came before; docs/evaluation.md ("Conversation") measures both directions.

What the conversation is about is re-derived from the turns themselves (`_topic`, up to `MAX_DEPTH` back), so
a chain of follow-ups keeps its topic and each name's origin is known:
- names the questions gave, most recent first; and the name an answer gave when its question asked
  "who/where/which" ("Who said…?" → "Miller" is the "he" of the next turn), or when a "he/she" follow-up
  has no name to go on;
- topic words of those questions, ranked by how specific they are in this corpus (BM25 IDF: a word the
  corpus never uses cannot help), fewer when the question says much itself (every carried word also
  dilutes the question's own words in BM25, in the embedding and in the extractive answer's sentence scores);
- a continuation that brings its own subject ("And Colombia's president?", "What about the defense lawyer?")
  asks the same thing about something else: what it replaces (the previous question's names, the words bound
  to them such as "prime minister of …", the people earlier answers supplied) is dropped, older names stay.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from rag.followup import (
    answer_names,
    asks_for_entity,
    attached_words,
    follow_up_reasons,
    needs_context,
    wants_other_outlets,
)
from rag.retrieval import tokenize
from rag.types import Turn
from rag.words import (
    PERSONAL,
    SOURCE_NOUNS,
    Token,
    content_words,
    is_acronym,
    named_outlets,
    names_in,
    outlet_mentions,
    without_outlets,
    word_tokens,
)

__all__ = ["Resolution", "corpus_specificity", "follow_up_reasons", "needs_context", "resolve", "resolve_query"]


#: At most this many names and topic words are carried (more dilutes the question's own words; measured on the
#: dialogue fixtures: 3 to 6 words score the same, see docs/evaluation.md).
MAX_NAMES = 3
MAX_WORDS = 4
#: A question with at least this many names and topic words of its own ("What did its CEO say about the
#: settlement?") carries at most `MAX_WORDS_WHEN_SPECIFIC` words: it needs the referent, not the topic.
OWN_ENOUGH = 2
MAX_WORDS_WHEN_SPECIFIC = 2
#: Turns looked back through to re-derive what a chain of follow-ups is about (each step re-reads one turn).
MAX_DEPTH = 4
#: Names taken from the previous answer for a "who/where/which" question: the answer's leading entities.
MAX_ANSWER_NAMES = 1


@dataclass(frozen=True, slots=True)
class Resolution:
    """How a question was read in its conversation: what to search, and why."""

    text: str  # what to search
    question: str  # the user's words
    follow_up: bool = False
    reasons: tuple[str, ...] = ()  # why it was taken as a follow-up ("pronoun 'he'", "opens with 'and'")
    carried: tuple[str, ...] = ()  # names and words taken from earlier turns
    exclude_outlets: tuple[str, ...] = ()  # "the other outlets": those the previous turn named, else cited
    only_outlets: tuple[str, ...] = ()  # "What did Dawn say?": the outlets a question about sources names

    def note(self) -> str:
        """One line for the user about what was inferred (empty for a self-contained question)."""
        if not self.follow_up:
            return ""
        parts = [f"follow-up ({', '.join(self.reasons)})"]
        if self.carried:
            parts.append("searched with: " + ", ".join(self.carried))
        if self.exclude_outlets:
            parts.append("other outlets than: " + ", ".join(self.exclude_outlets))
        if self.only_outlets:
            parts.append("only: " + ", ".join(self.only_outlets))
        return "; ".join(parts)


def cited_outlets(turn: Turn, outlets: Iterable[str] = ()) -> list[str]:
    """Outlets the turn's answer cited: its recorded list, else the extractive answer's "Outlet: " lines."""
    if turn.outlets:
        return list(turn.outlets)
    return [o for o in outlets if re.search(rf"(?m)^{re.escape(o)}: ", turn.answer)]


def _dedupe(items: Iterable[str], against: Iterable[str]) -> list[str]:
    """Items whose BM25 terms are not all already in `against` or in an earlier item."""
    seen = {t for text in against for t in tokenize([text])[0]}
    out = []
    for item in items:
        terms = set(tokenize([item])[0])
        if terms and not terms <= seen:
            out.append(item)
            seen |= terms
    return out


def _rank(words: list[str], specificity: Callable[[str], float] | None, limit: int) -> list[str]:
    """The `limit` most specific words (rarest in the corpus first); in order of appearance without a scale."""
    if specificity is None:
        return words[:limit]
    scored = [(specificity(w), i, w) for i, w in enumerate(words)]
    best = sorted((x for x in scored if x[0] > 0), key=lambda x: (-x[0], x[1]))[:limit]
    return [w for _, _, w in sorted(best, key=lambda x: x[1])]


def corpus_specificity(retriever: object) -> Callable[[str], float]:
    """`specificity` for `resolve_query` from a retriever's BM25 statistics (`knows(term)`, `idf(term)`)."""

    def specificity(word: str) -> float:
        terms = [t for t in tokenize([word])[0] if retriever.knows(t)]  # type: ignore[attr-defined]
        return max((retriever.idf(t) for t in terms), default=0.0)  # type: ignore[attr-defined]

    return specificity


@dataclass(slots=True)
class _Topic:
    """What a turn was about, as later turns inherit it."""

    names: list[str]  # names the questions gave, most recent first
    referents: list[str]  # names the answers gave ("Who said…?" → "Miller"), most recent first
    words: list[str]  # topic words, most recent first
    about_sources: bool = False  # the turn only asked about sources ("And the other outlets?")


def _own(question: str, outlets: Sequence[str]) -> tuple[list[Token], list[str], list[str], list[str]]:
    """A question's tokens, its own names and topic words, and the outlets it names."""
    toks = word_tokens(question)
    asked = outlet_mentions(question, outlets)
    names = [n for n in without_outlets(names_in(toks, question=True), asked) if not is_acronym(n)]
    words = [w for w in content_words(toks, names + asked) if w.lower() not in SOURCE_NOUNS]
    return toks, names, words, asked


def _topic(history: Sequence[Turn], outlets: Sequence[str], depth: int) -> _Topic:
    """The topic after the last turn of `history`, re-derived from the turns (at most `depth` back)."""
    turn = history[-1]
    reasons = follow_up_reasons(turn.question, outlets) if len(history) > 1 and depth > 0 else []
    if not reasons:
        _, names, words, _ = _own(turn.question, outlets)
        return _Topic(names, [], words)
    return _follow(turn.question, reasons, history[:-1], outlets, depth - 1)


def _follow(question: str, reasons: list[str], history: Sequence[Turn], outlets: Sequence[str], depth: int) -> _Topic:
    """The topic of follow-up `question`: its own names and words on top of what it inherits."""
    previous = history[-1]
    before = _topic(history, outlets, depth)
    ptoks, pnames, _, _ = _own(previous.question, outlets)
    toks, names, words, _ = _own(question, outlets)
    pronoun = any(r.strip("'") in PERSONAL for r in reasons)
    continuation = any(r.startswith("opens with") for r in reasons)
    inherited_names, referents, inherited_words = before.names, before.referents, before.words
    if continuation and (names or (words and not pronoun)):
        # "And Colombia's president?", "What about the defense lawyer?": the same question about something
        # else. What it replaces (the previous question's own names, the words bound to them, the people
        # earlier answers supplied) gives way; older names stay as the topic.
        gone = {n.lower() for n in pnames}
        for n in pnames:
            # "…prime minister of X?" + "And Y's president?": "prime minister" goes with X; but "X's
            # sentencing?" + "And Y's?" asks for Y's sentencing: with no words of its own, the frame stays.
            gone |= attached_words(ptoks, n) if words else set()
        inherited_names = [n for n in inherited_names if n.lower() not in gone]
        inherited_words = [w for w in inherited_words if w.lower() not in gone]
        referents = []
    elif previous.answer and (asks_for_entity(previous.question) or (pronoun and not before.names)):
        # "Who said…?" / "Where was…?" answered with a name: that name is what "he", "there" or "it" means.
        wh = next((t.low for t in word_tokens(previous.question)), "")
        found = answer_names(
            previous.answer,
            outlets,
            skip=[*before.names, *names],
            question=previous.question,
            speakers=pronoun or wh in {"who", "whom"},
            places=wh == "where",
        )
        referents = found[:MAX_ANSWER_NAMES] + referents
    about_sources = (
        not names and not words and (wants_other_outlets(question) or bool(outlet_mentions(question, outlets)))
    )
    return _Topic(names + inherited_names, referents, words + inherited_words, about_sources)


def resolve_query(
    question: str,
    history: Sequence[Turn] = (),
    outlets: Sequence[str] = (),
    specificity: Callable[[str], float] | None = None,
) -> Resolution:
    """How to search `question` given the earlier turns (most recent last) and the corpus's outlets.

    `specificity(word)` (the corpus's BM25 IDF of the word, 0 when the corpus never uses it) picks the most
    telling topic words to carry; without it the most recent ones are taken.
    """
    plain = Resolution(text=question, question=question)
    if not history:
        return plain
    reasons = follow_up_reasons(question, outlets)
    if not reasons:
        return plain
    topic = _follow(question, reasons, history, outlets, MAX_DEPTH)
    _, own_names, own_words, asked = _own(question, outlets)
    names = _dedupe(topic.referents[:MAX_ANSWER_NAMES] + topic.names[len(own_names) :][:MAX_NAMES], [question])
    # A question that says much itself needs only the names it refers to; a bare "And in Mexico?" needs the topic.
    budget = MAX_WORDS if len(own_words) + len(own_names) < OWN_ENOUGH else MAX_WORDS_WHEN_SPECIFIC
    words = _rank(_dedupe(topic.words[len(own_words) :], [question, *names]), specificity, budget)
    carried = names + words

    previous = history[-1]
    # "And the other outlets?": other than the outlets the previous question named ("What did Dawn report…?"),
    # else than those its answer cited.
    exclude: tuple[str, ...] = ()
    if wants_other_outlets(question):
        exclude = named_outlets(previous.question, outlets) or tuple(cited_outlets(previous, outlets))
    only = named_outlets(question, outlets)
    # A question only about the sources ("And the other outlets?", "What did Dawn say?") searches the
    # previous topic within those sources: its own words name no topic and would only dilute the search.
    if topic.about_sources and carried and (exclude or only):
        return Resolution(" ".join(carried), question, True, tuple(reasons), tuple(carried), exclude, only)
    text = f"{question} {' '.join(carried)}".strip()
    return Resolution(text, question, True, tuple(reasons), tuple(carried), exclude)


def resolve(question: str, history: Sequence[Turn] = (), outlets: Sequence[str] = ()) -> str:
    """The text to search for `question` given the earlier turns (the question itself if it stands alone)."""
    return resolve_query(question, history, outlets).text
