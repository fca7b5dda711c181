"""Words and names in questions and answers: English function-word lists, tokens, capitalised names, outlet
mentions and topic words. Shared by the follow-up reader (rag/followup.py) and the resolver (rag/conversation.py).

The word lists are English function words (pronouns, prepositions, auxiliaries…), never words of a corpus or
of the evaluation questions. Names are capitalised spans; outlet names come from the index.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

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
# Nouns of time: "this week", "that year" point at the article's time, not at an earlier turn.
TIME_NOUNS = frozenset(
    """year years week weeks month months day days date weekend morning afternoon evening night season time
    quarter summer winter spring fall autumn decade century""".split()
)
# Openings of a continuation: "And in Mexico?", "What about the others?", "So why did he go?".
OPENERS = frozenset("and but also so or plus then same".split())
OPENING_PAIRS = frozenset(
    """what+about how+about what+of what+else who+else where+else when+else anything+else how+so why+so
    why+not""".split()
)
# "other" + a word for a news source: the user wants outlets the previous answer did not cite.
SOURCE_NOUNS = frozenset(
    """outlet outlets source sources article articles report reports paper papers newspaper newspapers
    publication publications media site sites coverage""".split()
)
# Imperatives that open a request and carry no topic ("Name the…", "List…").
IMPERATIVES = frozenset("name list describe tell give explain summarize summarise compare show".split())
# Verbs that carry no topic of their own in a question ("What did X say?").
GENERIC = frozenset(
    """say said says tell told report reported reports write wrote written describe described think thought
    mean meant happen happened happens know explain explained according also else other others exactly really
    just then there here now""".split()
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
GLUE = frozenset("of and de la del da di van von der al bin the for".split())
SPEECH = frozenset("said says told added warned argued wrote stated claimed according".split())

_TOKEN = re.compile(r"[A-Za-z0-9\u00C0-\u024F][\w'’\u00C0-\u024F.&-]*")
_POSSESSIVE = re.compile(r"['’]s?$")
MARKER = re.compile(r"\s*\[\d+\]")  # citation markers in an answer


# Abbreviations whose full stop does not end a sentence ("U.S. Attorney General…", "Mr. Smith").
_ABBREVIATION = re.compile(
    r"^(?:[A-Za-z]\.)+$|^(?:Mr|Mrs|Ms|Dr|St|Jr|Sr|No|Gen|Sen|Rep|Gov|Lt|Col|Capt|Prof|Inc|Co|Corp|Ltd|vs|v)\.$"
)


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
    """The words of `text`; a word is sentence-initial after . ? ! : ; or a line break (quotes aside)."""
    out: list[Token] = []
    end, previous = 0, ""
    for m in _TOKEN.finditer(text):
        gap = text[end : m.start()]
        stop = previous.endswith(".") and not _ABBREVIATION.match(previous)
        initial = not previous or stop or any(c in gap for c in ".?!:;\n")
        spaced, end, previous = not gap.strip(), m.end(), m.group(0)
        raw = m.group(0).rstrip(".")
        word = _POSSESSIVE.sub("", raw) or raw
        out.append(Token(word, word.lower(), m.start(), initial, word[:1].isupper(), word != raw, spaced))
    return out


def is_acronym(word: str) -> bool:
    """Short all-capital words ("US", "CEO", "AI") are too generic to anchor a topic alone."""
    letters = word.replace(".", "")
    return letters.isupper() and len(letters) <= 3


def names_in(tokens: list[Token], question: bool) -> list[str]:
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
            names.append(" ".join(t.text for t in span))
    return names


def _outlet_aliases(outlet: str) -> list[tuple[str, int]]:
    """(alias, regex flags): the full name in any case, each part between " | " / " - " as capitalised."""
    aliases: list[tuple[str, int]] = [(outlet, re.IGNORECASE)]
    for part in re.split(r"\s+[|–—-]\s+", outlet):
        part = part.strip()
        if part != outlet and len(part) >= 3:
            aliases.append((part, 0))
        if part.lower().startswith("the ") and len(part.split()) >= 3:  # "The New York Times" → "New York Times"
            aliases.append((part[4:], 0))
    return aliases


def outlet_mentions(question: str, outlets: Iterable[str]) -> list[str]:
    """How the question names corpus outlets (as written in it): full name, or a part of it as a name."""
    found = []
    for outlet in outlets:
        for alias, flags in _outlet_aliases(outlet):
            m = re.search(rf"(?<!\w){re.escape(alias)}(?!\w)", question, flags)
            if m:
                found.append(m.group(0))
                break
    return found


def named_outlets(question: str, outlets: Iterable[str]) -> tuple[str, ...]:
    """The corpus outlets (full names) the question names."""
    return tuple(o for o in outlets if outlet_mentions(question, [o]))


@lru_cache(maxsize=64)
def _outlet_pattern(outlet_names: tuple[str, ...]) -> re.Pattern[str] | None:
    """One alternation of every outlet name and its parts (3+ characters), longest first."""
    parts = sorted({x.strip() for o in outlet_names for x in re.split(r"\s+[|–—-]\s+", o) + [o]}, key=len)[::-1]
    parts = [p for p in parts if len(p) >= 3]
    return re.compile(r"(?<!\w)(?:" + "|".join(map(re.escape, parts)) + r")(?!\w)") if parts else None


def without_outlets(names: list[str], outlet_names: Sequence[str]) -> list[str]:
    """Names minus outlet names, also where a name span merely contains one ("Dawn report" → "")."""
    pattern = _outlet_pattern(tuple(outlet_names))
    out = []
    for name in names:
        if pattern is not None:
            name = pattern.sub("|", name)
        for part in name.split("|"):  # what is left on either side of an outlet name, glue words trimmed
            words = part.split()
            while words and words[0].lower() in GLUE:
                words.pop(0)
            while words and words[-1].lower() in GLUE:
                words.pop()
            if words:
                out.append(" ".join(words))
    return out


def content_words(tokens: list[Token], names: Sequence[str] = ()) -> list[str]:
    """Topic words: not function words, not part of a name, 3+ characters (or a number)."""
    in_names = {w.lower() for n in names for w in n.split()}
    return [
        t.text.lower() if not t.cap else t.text
        for t in tokens
        if t.low not in STOP and t.low not in in_names and (len(t.low) >= 3 or t.low.isdigit())
    ]
