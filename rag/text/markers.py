"""Citation markers: an answer cites its passage n as "[n]" right after the words it quotes from it.

One pattern for everything that reads an answer's own markers (the chat links them, the question reader strips
them from an earlier answer, the LLM rewriter refuses a rewrite that has them). A model's looser variants
("[1, 2]", "[passage 3]") are parsed where its output is checked, `rag.answer.verify`.
"""

from __future__ import annotations

import re

#: One marker; group 1 is the passage number.
MARKER = re.compile(r"\[(\d+)\]")
_WITH_SPACE = re.compile(r"\s*" + MARKER.pattern)


def strip_markers(text: str) -> str:
    """`text` without its markers (and the space before each): "…force. [1] “The…" → "…force. “The…"."""
    return _WITH_SPACE.sub("", text)
