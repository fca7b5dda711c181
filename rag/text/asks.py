"""What a question asks for, read from its question word: a number ("How many…", "How much…"), a date
("When…", "What year…"), a time of day ("What time…"), a duration ("How long…"), a name ("Who…", "Which…",
"Where…"), a reason ("Why…"), and whether a sentence holds an answer of that kind.

Why: a sentence can share the question's words and still not answer it. "How many people have died in the
boat strikes?" shares "many" and "strikes" with a remark that holds no figure; the sentence that answers it
("…resulting in 150 deaths") may share only "strikes". The kind of answer asked for is a signal no word
overlap gives (the answer-type check of classic question answering). Only English question words and the
forms numbers and dates take are listed here, nothing of any corpus.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from rag.text.dates import MONTH_WORD, WEEKDAYS
from rag.text.names import names_in
from rag.text.tokens import AUX, DEGREE, PERSONAL, STOP, WH, word_tokens
from rag.types import AnswerKind as Kind

#: "what/which" + one of these asks for a quantity or a date rather than a name.
_NUMBER_NOUNS = frozenset("percentage percent share number amount price cost figure total size rate age sum".split())
_DATE_NOUNS = frozenset("year date day month time week decade".split())
#: Words after "what" that make it a question about a thing rather than a name ("What about…", "What if…").
_NOT_A_NOUN = AUX | PERSONAL | WH | frozenset("about if else happened happens the a an".split())
#: "What kind of car…": the noun asked for comes after "of".
_KIND_OF = frozenset("kind kinds type types sort sorts".split())

_NUMBER_WORDS = (
    "two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen "
    "eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety hundred hundreds thousand thousands "
    "million millions billion billions trillion dozen dozens half percent"
)
# A figure: digits (not a bare year, which dates a sentence rather than counting anything), "$", "%", or a
# number word, also inside a compound ("nine-person jury", "two-thirds"); not "one", mostly a pronoun.
_NUMBER = re.compile(
    r"[$€£%]|\b(?!(?:19|20)\d\d\b)\d[\d,.]*\b|(?<![\w'’])(?:" + "|".join(_NUMBER_WORDS.split()) + r")(?![\w'’])"
    r"|\b(?:century|centuries|decades?)-old\b",  # "a century-old award" says how old
    re.I,
)
#: A year as written in news text: "2002", "1983", "the 1823 Monroe Doctrine".
_YEAR = re.compile(r"\b(?:1[5-9]|20)\d\d\b")
# A time of day: "8:15 p.m.", "3pm", "20:00", "noon".
_TIME = re.compile(r"(?i:\b\d{1,2}(?::\d\d)?\s?[ap]\.?m\b\.?|\b(?:[01]?\d|2[0-3]):[0-5]\d\b|\b(?:noon|midnight)\b)")
# Month and weekday names are matched as written (capitalised: "may" is a verb); the rest either way. A time
# of day answers "When…?" too.
_DATE = re.compile(
    "|".join(
        [
            r"\b(?:" + MONTH_WORD.pattern + "|" + "|".join(WEEKDAYS) + r")(?![\w-])",
            _YEAR.pattern,
            r"(?i:\b(?:yesterday|today|tonight|ago)\b|\b(?:last|next|this|earlier this|later this)\s+"
            r"(?:week|month|year|spring|summer|fall|autumn|winter)\b)",
            _TIME.pattern,
        ]
    )
)


_UNITS = "seconds? minutes? hours? days? weeks? fortnights? months? years? decades? century centuries seasons? games?"
# A length of time: a count of a unit ("three months", "a 10-game ban", "two more seasons"; not "22-year-old"),
# or "since" a year or month ("since 2002").
_DURATION = re.compile(
    r"(?i:\b(?:\d[\d,.]*|a|an|several|few|" + "|".join(_NUMBER_WORDS.split()) + r")[\s-]+(?:[a-z]+[\s-]+)?"
    r"(?:" + "|".join(_UNITS.split()) + r")\b(?!-old))"
    r"|\b(?i:since)\s+(?:\w+\s+){0,2}?(?:" + _YEAR.pattern + "|" + MONTH_WORD.pattern + ")"
    r"|(?i:\b(?:for|after|over|within)\s+(?:decades|years|months|weeks|centuries)\b)"  # "after decades of effort"
)


def _question_word(question: str) -> tuple[str, str] | None:
    """The question's first question word and the word after it ("how", "many"), or None."""
    words = [t.low for t in word_tokens(question)]
    for i, w in enumerate(words):
        if w in WH:
            return w, (words[i + 1] if i + 1 < len(words) else "")
    return None


def asked_kind(question: str) -> Kind | None:
    """The kind of answer `question` asks for, or None when its question word does not say one ("What did X
    say?", "Why…", a yes/no question)."""
    found = _question_word(question)
    if found is None:
        return None
    wh, nxt = found
    if wh == "what" and nxt == "time":
        return "time"  # of day: a date or a weekday does not answer "What time does it kick off?"
    if wh == "when" or (wh in {"what", "which"} and nxt in _DATE_NOUNS):
        return "date"
    if wh == "how" and nxt == "long":
        return "duration"  # "for two weeks", "since 2002"
    if (wh == "how" and nxt in DEGREE) or (wh in {"what", "which"} and nxt in _NUMBER_NOUNS):
        return "number"
    if wh in {"who", "whom", "whose", "which", "where"}:
        return "name"
    return None


def asks_why(question: str) -> bool:
    """Whether `question` asks for a reason ("Why do experts think it is risky?", "And why did he go?"): its
    answer is often the sentence after the one that matches it best (`rag.answer.support`, `rag.answer.extractive`)."""
    return any(t.low == "why" for t in word_tokens(question))


def asks_yes_no(question: str) -> bool:
    """Whether `question` asks yes or no: it opens with an auxiliary ("Did The Verge report…", "Is it true
    that…", "And was he…") and has no question word before it."""
    for t in word_tokens(question):
        if t.low in {"and", "so", "but", "then"}:
            continue
        return t.low in AUX
    return False


def asked_noun(question: str) -> str | None:
    """The noun a "which/what/whose <noun>" question asks for, lower-cased ("Which Martin Scorsese film did…?" →
    "film", "Which theater chain…" → "theater"); None for "who", "what did…" and the rest. The sentence that
    answers such a question usually says it ("…her father's 1983 film"). Names between the question word and
    the noun are passed over; only the first word is taken (without a tagger, the next may be the verb)."""
    toks = word_tokens(question)
    at = next((i for i, t in enumerate(toks) if t.low in WH), None)
    if at is None or toks[at].low not in {"which", "what", "whose"}:
        return None
    rest = toks[at + 1 :]
    for i, t in enumerate(rest):
        if t.cap or _NUMBER.fullmatch(t.text) or _YEAR.fullmatch(t.text):
            continue  # "Which 2023 film…", "Which two teams…"
        if t.low in _KIND_OF and i + 1 < len(rest) and rest[i + 1].low == "of":
            return asked_noun("which " + " ".join(x.text for x in rest[i + 2 :]))  # "What kind of car…"
        return None if t.low in STOP or t.low in _NOT_A_NOUN else t.low
    return None


def asks_for_a_name(question: str) -> bool:
    """Whether the question's first question word asks for an entity: who/whom/whose, which, what + noun
    (the short answer's question: `rag.answer.short`)."""
    found = _question_word(question)
    if found is None:
        return False
    wh, nxt = found
    return wh in {"who", "whom", "whose", "which"} or (wh == "what" and bool(nxt) and nxt not in _NOT_A_NOUN)


def holds_kind(sentence: str, kind: Kind, known: Sequence[str] = ()) -> bool:
    """Whether `sentence` holds an answer of `kind`: a figure, a date, or a name other than the `known` ones
    (the question's own names and the outlets: a sentence naming only what the question names does not say
    who)."""
    if kind == "number":
        return _NUMBER.search(sentence) is not None
    if kind == "date":
        return _DATE.search(sentence) is not None
    if kind == "time":
        return _TIME.search(sentence) is not None
    if kind == "duration":  # a length of time, or a year it can be counted from ("signed in 2002")
        return _DURATION.search(sentence) is not None or _YEAR.search(sentence) is not None
    lowered = [k.lower() for k in known]
    return any(
        not any(n.lower() in k or k in n.lower() for k in lowered) for n in names_in(word_tokens(sentence), False)
    )
