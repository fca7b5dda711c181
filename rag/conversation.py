"""Follow-up questions: turn "What did he say the goal was?" into a query that can be searched alone.

Without an LLM: a question that leans on earlier turns (a pronoun, "there", "that", an elliptical "and in
Mexico?", or too few content words to stand alone) is searched together with the names and topic words of
the previous turn. A self-contained question is searched exactly as asked, so a change of topic is not
polluted by what came before.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from rag.types import Turn

_ANAPHORA = re.compile(
    r"\b(he|she|him|his|her|hers|it|its|they|them|their|theirs|this|that|these|those|there|then|"
    r"the same|the other|the latter|the former)\b",
    re.I,
)
_ELLIPSIS = re.compile(r"^\s*(and|but|also|what about|how about|and what about|what of|same for|why|how so)\b", re.I)
_NAME = re.compile(r"\b[A-Z][\w'’.-]+(?:\s+(?:of|de|la|the|and)?\s*[A-Z][\w'’.-]+)*")
_STOP = frozenset(
    """what who whom whose which when where why how did does do is are was were the a an of to in on for
    and or by with about from at as according said say says tell me""".split()
)


def needs_context(question: str) -> bool:
    """Whether `question` leans on earlier turns (pronoun, ellipsis, or too short to stand alone)."""
    content = [w for w in re.findall(r"[\w'’]+", question.lower()) if w not in _STOP]
    return bool(_ANAPHORA.search(question) or _ELLIPSIS.search(question) or len(content) <= 2)


def _salient(text: str) -> list[str]:
    """Names first, then content words, in order of appearance, without repeats."""
    names = [m.group(0) for m in _NAME.finditer(text) if m.group(0).lower() not in _STOP]
    words = [w for w in re.findall(r"[\w'’-]+", text) if w.lower() not in _STOP and len(w) > 3]
    seen: set[str] = set()
    out = []
    for w in names + words:
        if w.lower() not in seen:
            seen.add(w.lower())
            out.append(w)
    return out


def resolve(question: str, history: Sequence[Turn] = ()) -> str:
    """The text to search for `question` given the earlier turns (the question itself if it stands alone)."""
    if not history or not needs_context(question):
        return question
    previous = history[-1]
    context = _salient(previous.search_query or previous.question)
    new = [w for w in context if w.lower() not in question.lower()]
    return f"{question} {' '.join(new)}".strip() if new else question
