"""The conversation around the chat: history as `Turn`s, filter values, example questions.

Example questions are drawn from the index itself (so they work for any corpus): the names that the most
outlets mention, and the newest article's headline. An operator can replace them with
`Settings.example_questions`.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from rag.text.dates import MONTHS, WEEKDAYS
from rag.text.names import SPEECH_VERB, STARTERS, names_in
from rag.text.outlets import OutletMatcher
from rag.text.tokens import GLUE, word_tokens
from rag.types import Answer, Article, Turn


@dataclass(slots=True)
class Message:
    """One chat message: the user's question, or the system's answer to the question before it."""

    role: str  # "user" or "assistant"
    text: str
    answer: Answer | None = None
    id: int = 0  # unique within the session, for widget keys


def history_turns(messages: Sequence[Message]) -> list[Turn]:
    """The earlier exchanges (question + answer + what was searched) in the order they happened."""
    return [Turn.from_answer(m.answer) for m in messages if m.answer is not None]


def date_range(since: date | None, until: date | None) -> tuple[str | None, str | None, str | None]:
    """ISO bounds for the search and an error message when the range is empty (from after until)."""
    s = since.isoformat() if since else None
    u = until.isoformat() if until else None
    if s and u and s > u:
        return None, None, f"'From' ({s}) is after 'Until' ({u}); the date filter is ignored until it is fixed."
    return s, u, None


def date_span(articles: Iterable[Article]) -> tuple[str, str] | None:
    """The earliest and latest publication date in the corpus (for the filter's hint), if any is dated."""
    dates = sorted(a.published for a in articles if a.published)
    return (dates[0], dates[-1]) if dates else None


_NOT_NAMES = {w.lower() for w in MONTHS + WEEKDAYS}
_BEFORE_SAID = re.compile(rf"\b([A-Z][\w’'-]*),?\s+{SPEECH_VERB}\b")
_AFTER_SAID = re.compile(rf"\b{SPEECH_VERB}\s+(?:[A-Z][\w.’'-]*\s+){{0,3}}([A-Z][\w’'-]*)\s*[,.]")


def _names(body: str, outlets: OutletMatcher) -> set[str]:
    """Names of two or more capitalised words ("Stephen Miller", "Latin America"): names worth asking about;
    not outlets, dates, acronyms or a sentence opener ("However Miller…")."""
    names = set()
    for name in outlets.without(names_in(word_tokens(body), question=True)):  # a first word counts too
        words = name.split()
        if len(words) < 2 or words[0].lower() in STARTERS or any(w.lower() in _NOT_NAMES for w in words):
            continue
        if all(w[1:2].islower() or w.lower() in GLUE for w in words):
            names.add(name)
    return names


def _quoted_surnames(body: str) -> set[str]:
    """Capitalised words the article attributes words to: "Miller said", or "said (Title) Miller," at a
    clause end (a name after the verb that the clause goes on from is its object: "warned Latin American
    governments")."""
    return {m.group(1) for m in _BEFORE_SAID.finditer(body)} | {m.group(1) for m in _AFTER_SAID.finditer(body)}


def shared_names(articles: Iterable[Article], limit: int = 2, speakers: bool = False) -> list[str]:
    """Names mentioned by the most outlets (ties: by how many articles), excluding outlet names and dates.

    With `speakers`, only people the articles quote ("X said"): "What did X say?" is a question news
    articles answer well, and one several outlets report on shows the side-by-side view of outlets.
    """
    arts = list(articles)
    outlet_names = OutletMatcher.of(sorted({a.outlet for a in arts}))
    outlets_for: dict[str, set[str]] = defaultdict(set)
    count: Counter[str] = Counter()
    for a in arts:
        found = _names(a.body, outlet_names)
        if speakers:  # a person by first and last name: "Defense Secretary Pete Hegseth" is "Pete Hegseth"
            quoted = _quoted_surnames(a.body)
            found = {" ".join(n.split()[-2:]) for n in found if n.split()[-1] in quoted}
        for name in found:
            outlets_for[name].add(a.outlet)
            count[name] += 1
    ranked = sorted(count, key=lambda n: (-len(outlets_for[n]), -count[n], n))
    chosen: list[str] = []
    for name in ranked:
        # "Latin America" and "Latin American", "Donald Trump" and "President Donald Trump" are one subject.
        if not any(set(name.split()) & set(c.split()) for c in chosen):
            chosen.append(name)
        if len(chosen) == limit:
            break
    return chosen


def example_questions(articles: Iterable[Article], configured: Sequence[str] = (), n: int = 3) -> list[str]:
    """Up to `n` questions for the empty screen: the configured ones, else derived from the articles.

    People several outlets quote first ("What did X say?"), then subjects several outlets cover.
    """
    if configured:
        return list(configured)[:n]
    arts = list(articles)
    speakers = shared_names(arts, n, speakers=True)
    questions = [f"What did {name} say?" for name in speakers]
    taken = {w for name in speakers for w in name.split()}
    for name in shared_names(arts, n + len(speakers)) if len(questions) < n else []:
        if len(questions) >= n:
            break
        if not set(name.split()) & taken:
            questions.append(f"What did the outlets report about {name}?")
            taken |= set(name.split())
    return questions[:n]
