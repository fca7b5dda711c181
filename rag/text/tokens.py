"""Words: the BM25 tokens every search and answer scores with, and the words of a question or answer as the
name finder and the question reader see them, with the English function words that carry no topic.

Two stop lists, for two jobs:
- `STOPWORDS` (BM25): dropped from the index and from queries. Changing it changes every index built.
- `STOP`: function words (pronouns, prepositions, auxiliaries…) that are never a name or a topic of a question.
Both are English function words, never words of a corpus or of the evaluation questions.

No side effects on import (no thread limits, no model): any module may take its tokens from here.
"""

from __future__ import annotations

import bisect
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass

import bm25s
import Stemmer

from rag.text.sentences import sentence_spans

# -- BM25 tokens -----------------------------------------------------------------------------------------------

_STEMMER = Stemmer.Stemmer("english")
logging.getLogger("bm25s").setLevel(logging.WARNING)  # it logs every index build at DEBUG

#: bm25s's 33 English stop words plus question words, auxiliaries and pronouns: words that carry no topic,
#: so that "What did X say about Y?" is matched on X and Y only.
STOPWORDS = sorted(
    set(bm25s.stopwords.STOPWORDS_EN)
    | set(
        """what which who whom whose when where why how whether did do does doing done has have had having been
    being were am can could would should shall may might must its it's he she him his her hers we us
    our ours you your yours i me my mine them theirs those from about up down out over under again
    also very just than too so any some all both each few more most other own same nor s t don now
    one ones here after before during while since until against between through above below off
    according say says said tell told""".split()
    )
)


def tokenize(texts: Sequence[str]) -> list[list[str]]:
    """BM25 tokens: lower-cased words of 2+ characters, stop words removed, Snowball-stemmed."""
    return bm25s.tokenize(list(texts), stopwords=STOPWORDS, stemmer=_STEMMER, return_ids=False, show_progress=False)


# -- English function words (general, not tied to any corpus) ------------------------------------------------

WH = frozenset("what which who whom whose when where why how".split())
AUX = frozenset(
    """is are was were be been being am do does did done has have had will would can could should shall may
    might must""".split()
)
PERSONAL = frozenset("he she him his her hers himself herself".split())
NEUTER = frozenset("it its itself they them their theirs themselves".split())
DEMONSTRATIVE = frozenset("this these those".split())
PREPOSITIONS = frozenset(
    """about after against at before behind beside besides by during for from in into like of on over since
    through to toward towards under until upon with within without""".split()
)
# Words after which a pronoun may refer back inside the same question ("X announced ..., and when did it ...").
CLAUSE_MARKS = frozenset(
    "and but while whereas when where after before because although if that which who whom whose whether instead "
    "rather unlike".split()
)
# Imperatives that open a request and carry no topic ("Name the…", "List…").
IMPERATIVES = frozenset("name list describe tell give explain summarize summarise compare show".split())
#: Verbs that ask for what a source reported ("What did Dawn quote him saying…?"), never what it reported about.
REPORTING = frozenset(
    """say said says saying tell told report reported reports write wrote written describe described quote quoted
    quotes mention mentions mentioned according""".split()
)
# Verbs that carry no topic of their own in a question ("What did X say?").
GENERIC = REPORTING | frozenset(
    """think thought mean meant happen happened happens know explain explained also else other others exactly
    really just then there here now seem seems seemed appear appears appeared refer refers referred
    referring""".split()
)
STOP = (
    WH
    | AUX
    | PERSONAL
    | NEUTER
    | DEMONSTRATIVE
    | PREPOSITIONS
    | CLAUSE_MARKS
    | IMPERATIVES
    | GENERIC
    | frozenset(
        """a an the and or nor not no yes i me my we us our you your that any some all each every both either
        neither one ones much many more most less least such same than as so very too get got make made""".split()
    )
)
#: "how" + one of these asks for a quantity ("How many…", "How long did it last?", "How old is he?"): the word is
#: the question's form, not its topic (`how_degree`).
DEGREE = frozenset("many much long far big large old often tall high deep wide heavy fast expensive".split())


def how_degree(tokens: Sequence[Token]) -> set[int]:
    """Positions of the words that, after "how", ask for a quantity: the "old" of "How old is he?" is not a topic
    word (searched for, it finds "Old Trafford")."""
    return {i for i in range(1, len(tokens)) if tokens[i].low in DEGREE and tokens[i - 1].low == "how"}


#: The stems of `REPORTING` (as `tokenize` stems): BM25 tokens of a question that ask for a report without being
#: its topic, such as the "say" of "saying" and the "quot" of "quote" in "What did Dawn quote Miller saying about
#: lawyers?" (not the rest of `GENERIC`: the "meant" of "What were the strikes meant to do?" is answered by "…was
#: meant to establish deterrence").
TOPICLESS = frozenset(_STEMMER.stemWords(sorted(REPORTING)))


#: Small words that may stand inside a name ("Trinidad and Tobago", "Ibn al-…", "Ludwig van Beethoven").
GLUE = frozenset("of and de la del da di van von der al bin the for".split())

# -- the words of a text ---------------------------------------------------------------------------------------

_TOKEN = re.compile(r"[A-Za-z0-9\u00C0-\u024F][\w'’\u00C0-\u024F.&-]*")
_POSSESSIVE = re.compile(r"['’]s?$")


@dataclass(frozen=True, slots=True)
class Token:
    """A word of a question or answer, with what name-finding needs to know about its place."""

    text: str  # possessive stripped
    low: str
    start: int
    initial: bool  # first word of a sentence
    cap: bool
    poss: bool = False  # had a possessive "'s"
    spaced: bool = True  # only white space since the previous token (no comma, quote or dash between)


def word_tokens(text: str) -> list[Token]:
    """The words of `text`; a word is sentence-initial where a sentence starts (rag.text.sentences: a full
    stop after "U.S." or "Mr." does not end one), or after ? ! : ; or a line break (quotes aside)."""
    starts = [s for s, _ in sentence_spans(text)]
    out: list[Token] = []
    end = 0
    for m in _TOKEN.finditer(text):
        gap = text[end : m.start()]
        # The first token at or after a sentence's start (which may be an opening quote) is initial.
        i = bisect.bisect_right(starts, m.start()) - 1
        opens = i >= 0 and starts[i] >= end and starts[i] <= m.start()
        initial = not out or opens or any(c in gap for c in ".?!:;\n")
        spaced, end = not gap.strip(), m.end()
        raw = m.group(0).rstrip(".")
        word = _POSSESSIVE.sub("", raw) or raw
        out.append(Token(word, word.lower(), m.start(), initial, word[:1].isupper(), word != raw, spaced))
    return out
