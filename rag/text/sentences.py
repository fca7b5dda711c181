"""Sentence boundaries with character spans: the one splitter for chunking, quoting, verifying and for where a
name finder's sentence starts (rag.text.tokens).

A regular-expression splitter tuned for news prose: a sentence ends at `.`, `!` or `?` (optionally followed
by closing quotes or brackets) when the next non-space character starts a new sentence, and not after a
known abbreviation ("U.S.", "Mr.", "Gen.") or an initial ("J. Smith") unless a word that opens
sentences follows ("in the U.S. The next day"). Line breaks always end a sentence:
in news text they separate paragraphs, headlines and captions. Spans index into the text given, so
`text[start:end]` is the sentence, stripped of surrounding whitespace.
"""

from __future__ import annotations

import re

from rag.text.dates import MONTH_ABBREVIATIONS

# Titles before a name: a period after them never ends a sentence ("Gen. Smith", lower-cased, no dot).
_TITLES = frozenset("mr mrs ms dr prof st gen lt col maj capt cmdr adm sgt gov sen rep rev hon pres supt".split())
# Abbreviations that rarely end a sentence, but do when a word that typically opens one follows
# ("moved to the U.S. The next year"): "U.S. The" cannot occur inside a sentence.
_ABBREVIATIONS = frozenset(
    "u.s u.k u.n e.u u.s.a d.c a.m p.m e.g i.e etc vs v inc corp co ltd bros dept est approx jr sr mt ft".split()
) | {m.lower() for m in MONTH_ABBREVIATIONS}
# Abbreviations only before a number ("No. 5", "Fig. 2"); elsewhere "no." is the word ("She said no.").
_BEFORE_NUMBER = frozenset("no nos fig figs vol".split())
# Words that open sentences and almost never follow an abbreviation inside one.
_OPENERS = frozenset("the a an he she it they we i but this that these those there his her its their our".split())
_END = re.compile(r"[.!?…]+[\"'”’)\]]*(?=\s)")
_NEXT_START = re.compile(r"\s+[\"'“‘(\[]?[A-Z0-9À-ÖØ-Þ]")
_DOTTED = re.compile(r"(?:[^\W\d_]\.)+[^\W\d_]")  # acronyms written with dots: "F.B.I", "N.Y"
_NEXT_WORD = re.compile(r"\s+[\"'“‘(\[]?(\w+)")


def _is_abbreviation(text: str, dot: int) -> bool:
    """True when the `.` at index `dot` closes an abbreviation or an initial, not a sentence."""
    i = dot
    while i > 0 and (text[i - 1].isalpha() or text[i - 1] == "."):
        i -= 1
    word = text[i:dot].lower()
    if not word:
        return False
    if word in _TITLES:
        return True
    m = _NEXT_WORD.match(text, dot + 1)
    following = m.group(1) if m else ""
    if word in _BEFORE_NUMBER:
        return following[:1].isdigit()
    opener = following.lower() in _OPENERS
    if word in _ABBREVIATIONS or _DOTTED.fullmatch(word):
        return not opener
    # A single capital initial ("J. Smith"), but not a one-letter word like "I" or "A" ending a sentence.
    return len(word) == 1 and text[dot - 1].isupper() and word not in {"i", "a"} and not opener


def sentence_spans(text: str, offset: int = 0) -> list[tuple[int, int]]:
    """(start, end) of each sentence in `text`, shifted by `offset`; whitespace-only text gives []."""
    spans: list[tuple[int, int]] = []
    for line in re.finditer(r"[^\n]+", text):
        line_start, line_text = line.start(), line.group()
        cut = 0
        for m in _END.finditer(line_text):
            end = m.end()
            if not _NEXT_START.match(line_text, end):
                continue
            if line_text[m.start()] == "." and m.end() - m.start() == 1 and _is_abbreviation(line_text, m.start()):
                continue
            _add(spans, line_text, cut, end, line_start + offset)
            cut = end
        _add(spans, line_text, cut, len(line_text), line_start + offset)
    return spans


def _add(spans: list[tuple[int, int]], line: str, start: int, end: int, base: int) -> None:
    piece = line[start:end]
    stripped = piece.strip()
    if stripped:
        lead = len(piece) - len(piece.lstrip())
        spans.append((base + start + lead, base + start + lead + len(stripped)))


def split_sentences(text: str) -> list[str]:
    """The sentences of `text` as strings (convenience over `sentence_spans`)."""
    return [text[s:e] for s, e in sentence_spans(text)]


def opens_quotation(sentence: str) -> bool:
    """Whether `sentence` opens a quotation it does not close ("“The United States is not going to come to
    Mexico with the military."): the quoted words go on in the sentences after it, up to the closing mark and
    its attribution ("…absolutely ruled out,” she said"). Curly marks are counted as opening and closing,
    straight double quotes by parity; single quotes are left out (apostrophes)."""
    curly = sentence.count("“") - sentence.count("”")
    return curly > 0 or (curly == 0 and sentence.count('"') % 2 == 1)
