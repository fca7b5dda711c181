"""Names: capitalised spans in questions, answers and passages, the one finder every module uses.

    "What did Colombia's President Petro tell the Navy and Marines?" ──▶ Colombia, President Petro, Navy and Marines

A name is a run of capitalised words joined by spaces and glue words ("Trinidad and Tobago"), never a
function word at a sentence start (rag.text.tokens: `STOP`, sentence starts from rag.text.sentences), nor
a word that opens sentences without naming anything (`STARTERS`: "However", "Meanwhile"). Also here: the
verbs that attribute speech ("X said", "said X": `SPEECH`) and the topic words left once names are out.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from rag.text.tokens import GLUE, STOP, Token, word_tokens

#: Capitalised words that open sentences without being names, beyond the function words (`STOP`).
STARTERS = frozenset(
    """however meanwhile additionally furthermore moreover overall despite several another finally first second
    third later earlier last thus therefore still""".split()
)
#: Verbs of attribution: news prose says "Miller said" / "said Miller" / "Miller told reporters".
SPEECH = frozenset("said says told added warned argued wrote stated claimed announced according".split())
SPEECH_VERB = r"(?:" + "|".join(sorted(SPEECH)) + r")"


def is_acronym(word: str) -> bool:
    """Short all-capital words ("US", "CEO", "AI") are too generic to anchor a topic alone."""
    letters = word.replace(".", "")
    return letters.isupper() and len(letters) <= 3


def name_spans(tokens: list[Token], question: bool) -> list[list[Token]]:
    """Capitalised spans ("Trinidad and Tobago"); a sentence-initial function word is never a name.

    In a question the first word is a name when it is not a function word ("Miller?"); in running text a lone
    sentence-initial word ("Organised crime…") is not, unless the text also capitalises it mid-sentence.
    """
    mid_caps = {t.low for t in tokens if t.cap and not t.initial}
    spans: list[list[Token]] = []
    current: list[Token] = []
    pending_glue: list[Token] = []
    for i, t in enumerate(tokens):
        # A name goes on over spaces and glue words only: "Miller, the White House…" is two names, and so is
        # "Colombia's President Petro".
        adjacent = i > 0 and not t.initial and t.spaced and not (current and current[-1].poss)
        adjacent = adjacent and all(g.spaced for g in pending_glue)
        if t.cap and t.low not in STOP | GLUE or (t.cap and t.low in GLUE and current and not t.initial):
            if t.initial and t.low in STOP:
                current, pending_glue = [], []
                continue
            if current and adjacent:
                current.extend(pending_glue)
                current.append(t)
            else:
                if current:
                    spans.append(current)
                current = [t]
            pending_glue = []
        elif current and t.low in GLUE and not pending_glue and t.spaced:
            pending_glue = [t]
        else:
            if current:
                spans.append(current)
            current, pending_glue = [], []
    if current:
        spans.append(current)
    names = []
    for span in spans:
        if span[0].initial and not question and span[0].low not in mid_caps:
            span = span[1:]  # "Using Caroline Ellison…": the first word is capitalised only as a sentence start
        while span and span[-1].low in GLUE:
            span.pop()
        while span and span[0].low in GLUE:
            span.pop(0)
        if span:
            names.append(span)
    return names


def names_in(tokens: list[Token], question: bool) -> list[str]:
    """The names of `name_spans` as text."""
    return [" ".join(t.text for t in span) for span in name_spans(tokens, question)]


def content_words(tokens: list[Token], names: Sequence[str] = ()) -> list[str]:
    """Topic words: not function words, not part of a name, 3+ characters (or a number)."""
    in_names = {w.lower() for n in names for w in n.split()}
    return [
        t.text.lower() if not t.cap else t.text
        for t in tokens
        if t.low not in STOP and t.low not in in_names and (len(t.low) >= 3 or t.low.isdigit())
    ]


def is_speaker(name: str, sentence: str) -> bool:
    """Whether `sentence` has `name` saying something ("X, a spokesman, said…", "…, said X")."""
    after = rf"{re.escape(name)}['’]?s?,?\s+(?:[\w-]+,?\s+){{0,8}}?{SPEECH_VERB}\b"
    return bool(re.search(after, sentence) or re.search(rf"\b{SPEECH_VERB}\s+{re.escape(name)}", sentence))


def is_place(name: str, sentence: str) -> bool:
    """Whether `sentence` has `name` after a preposition of place ("held in Miami")."""
    return bool(re.search(rf"\b(?:in|at|near|outside|inside)\s+(?:the\s+)?{re.escape(name)}", sentence))


def sentence_names(text: str) -> list[tuple[str, bool]]:
    """The names of a question as (name, opens a sentence): a capitalised word at a sentence start may be only
    capitalised because of where it stands."""
    return [(" ".join(t.text for t in span), span[0].initial) for span in name_spans(word_tokens(text), True)]
