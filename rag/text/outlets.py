"""Outlet names in text: the one matcher for questions, answers and passages, and the sources a question
names that the corpus does not have.

Outlet names come from the index itself (never a fixed list). Each corpus outlet is known by
- its full name ("FOX News - Health", "BBC News | World", "Fox News: Health");
- each part between the separators " | ", " - ", " – ", ": " ("FOX News", "World"); a head shared by several
  outlets ("FOX News") stands for all of them;
- the same without a domain ending ("TechCrunch.com" → "TechCrunch") or a leading "The" before two or more
  words ("The New York Times" → "New York Times"; "The Age" is never just "Age").
A match counts only when its words are capitalised as a name ("Fortune reported" is the outlet, "a fortune"
is not), is not inside a word or a domain, and is not a list named after the outlet ("Fortune 500"). A part
after the first ("World", "Health") counts only as a name of its own: not at a sentence start ("Health officials
said…"), nor inside a longer name ("BBC Sports", "Sports Illustrated" are not "The Independent - Sports").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from rag.text.dates import MONTH_WORD
from rag.text.tokens import GLUE, STOP

_SEPARATOR = re.compile(r"\s+[|–—-]\s+|:\s+")
_DOMAIN = re.compile(r"\.(?:com|net|org|co\.uk|co|io)$", re.I)
# Small words that stay lower-case inside a name ("Times of India", "Life and Style").
_NAME_GLUE = GLUE | {"&", "in", "on", "a", "an", "|", "-", "–", "—", ":"}
_WORD_BEFORE = re.compile(r"([\w'’.&-]+)[ \t]+$")
_WORD_AFTER = re.compile(r"[ \t]+([\w'’&-]+)")
_SENTENCE_START = re.compile(r"(?:^|[.?!:;\n][\"'”’)]*)\s*[\"'“‘(]*$")


def _variants(name: str) -> set[str]:
    """`name`, without a domain ending, and without a leading "The" before two or more words."""
    out = {name}
    bare = _DOMAIN.sub("", name)
    if bare != name and len(bare) >= 3:
        out.add(bare)
    for a in list(out):
        if a.lower().startswith("the ") and len(a.split()) >= 3:
            out.add(a[4:])
    return out


def _aliases(outlet: str) -> tuple[set[str], set[str]]:
    """(the full name and its head, the later parts): the ways a text may name `outlet`."""
    name = " ".join(outlet.split())
    parts = [p.strip() for p in _SEPARATOR.split(name)]
    main = _variants(name) | (_variants(parts[0]) if len(parts[0]) >= 3 else set())
    later = {v for p in parts[1:] if len(p) >= 3 for v in _variants(p)} - main
    return main, later


def outlet_aliases(outlet: str) -> set[str]:
    """The ways a text may name `outlet`: full name, each part between separators, without "The"/domain."""
    main, later = _aliases(outlet)
    return main | later


def _looks_like_name(text: str) -> bool:
    """Whether every word of `text` outside small glue words starts with a capital letter or a digit."""
    words = [w for w in re.split(r"\s+", text) if w]
    return all(w.lower() in _NAME_GLUE or w[:1].isupper() or w[:1].isdigit() for w in words)


@dataclass(frozen=True, slots=True)
class OutletMention:
    """A place in a text that names one or more corpus outlets (several when the name is shared)."""

    start: int
    end: int
    text: str
    outlets: tuple[str, ...]


class OutletMatcher:
    """Finds corpus outlet names in text. Build once per index (one compiled pattern); `of` caches."""

    def __init__(self, outlets: Iterable[str]) -> None:
        self.outlets = tuple(outlets)
        self.by_alias: dict[str, set[str]] = {}
        main_keys: set[str] = set()
        for outlet in self.outlets:
            main, later = _aliases(outlet)
            for alias in main | later:
                self.by_alias.setdefault(alias.casefold(), set()).add(outlet)
            main_keys |= {a.casefold() for a in main}
        self._later = set(self.by_alias) - main_keys  # only ever a later part ("World" of "BBC News | World")
        # Longest alias first, so "FOX News - Health" wins over "FOX News".
        alts = sorted(self.by_alias, key=len, reverse=True)
        body = "|".join(r"\s+".join(re.escape(w) for w in a.split()) for a in alts)
        # Not inside a word or domain, and not a name followed by a number: "Fortune 500", "Time 100" are lists.
        self._pattern = re.compile(rf"(?<![\w&])(?:{body})(?![\w&]|\.\w|\s+\d)", re.I) if alts else None

    @staticmethod
    def of(outlets: Iterable[str]) -> OutletMatcher:
        """The matcher for these outlets (cached: the reader and the answerers ask for the same few lists)."""
        return _matcher(tuple(outlets))

    def find(self, text: str, anywhere: bool = False) -> list[OutletMention]:
        """Where `text` names outlets. `anywhere`: a later part counts at a sentence start too (inside names)."""
        if self._pattern is None:
            return []
        out = []
        for m in self._pattern.finditer(text):
            if not _looks_like_name(m.group(0)):
                continue
            key = " ".join(m.group(0).split()).casefold()
            if key in self._later and not anywhere and not self._alone(text, m.start(), m.end()):
                continue
            out.append(OutletMention(m.start(), m.end(), m.group(0), tuple(sorted(self.by_alias[key]))))
        return out

    @staticmethod
    def _alone(text: str, start: int, end: int) -> bool:
        """Whether text[start:end] stands as a name of its own: not at a sentence start ("Health officials…"),
        not inside a longer name ("BBC Sports", "Sports Illustrated")."""
        if _SENTENCE_START.search(text, 0, start):
            return False
        before, after = _WORD_BEFORE.search(text, 0, start), _WORD_AFTER.match(text, end)
        return not any(m and m.group(1)[:1].isupper() and m.group(1).lower() not in STOP for m in (before, after))

    def named(self, text: str) -> tuple[str, ...]:
        """The corpus outlets (full names) `text` names, in the order it names them."""
        return tuple(dict.fromkeys(o for m in self.find(text) for o in m.outlets))

    def known(self, name: str) -> bool:
        """Whether `name` (e.g. from "a Bloomberg article") is one of the corpus's outlets or their aliases."""
        key = " ".join(name.split()).casefold()
        return key in self.by_alias or (key.startswith("the ") and key[4:] in self.by_alias)

    def without(self, names: Iterable[str]) -> list[str]:
        """Names minus outlet names, also where a name span merely contains one ("Dawn report" → "report")."""
        out = []
        for name in names:
            pieces, last = [], 0
            for m in self.find(name, anywhere=True):
                pieces.append(name[last : m.start])
                last = m.end
            pieces.append(name[last:])
            for part in pieces:  # what is left on either side of an outlet name, glue words trimmed
                words = part.split()
                while words and words[0].lower() in GLUE:
                    words.pop(0)
                while words and words[-1].lower() in GLUE:
                    words.pop()
                if words:
                    out.append(" ".join(words))
        return out


@lru_cache(maxsize=16)
def _matcher(outlets: tuple[str, ...]) -> OutletMatcher:
    return OutletMatcher(outlets)


def without_outlets(names: Iterable[str], outlets: Sequence[str]) -> list[str]:
    """`names` minus the names of `outlets` (see `OutletMatcher.without`)."""
    return OutletMatcher.of(outlets).without(names)


# -- sources the question names --------------------------------------------------------------------------------

# A capitalised name of up to six words, allowing glue words inside ("The Times of India").
_NAME = r"(?:[Tt]he\s+)?[A-Z][\w&.'’-]*(?:\s+(?:(?:of|and|&|for)\s+)?[A-Z][\w&.'’-]*){0,5}"
# Nouns for a piece of journalism ("investigation", "feature" and the like also name other things).
_WORK = r"(?:article|piece|story|report|op-ed|column|coverage|editorial)"
# "a Bloomberg article", "the ESPN report", "an article from The Economist", "reported by Forbes".
_SLOT_BEFORE = re.compile(rf"\b(?:a|an|the)\s+[\"'‘“]?(?P<name>{_NAME})[\"'’”]?(?:'s|’s)?\s+{_WORK}s?\b")
_SLOT_AFTER = re.compile(
    rf"\b(?:{_WORK}s?|reported|published|written|covered)\s+(?:from|by|in)\s+[\"'‘“]?(?P<name>{_NAME})"
)
# "an article by The Verge and another by CNET" (only after a source named so: "another in Paris" is no source).
_SLOT_ANOTHER = re.compile(
    rf"\b{_WORK}s?\s+(?:from|by|in)\s+{_NAME}\s+and\s+another\s+(?:from|by|in)\s+[\"'‘“]?(?P<name>{_NAME})"
)


def source_names(question: str) -> list[tuple[int, int, str]]:
    """Names the question gives as the source of an article ("a Bloomberg article", "a piece from Wired")."""
    found = []
    for pattern in (_SLOT_BEFORE, _SLOT_AFTER, _SLOT_ANOTHER):
        for m in pattern.finditer(question):
            name = m.group("name").rstrip(".'’")
            name = re.sub(r"(?:'s|’s)$", "", name)
            if MONTH_WORD.fullmatch(name.split()[0]) or name.lower() in {"the", "a", "an"}:
                continue  # "an article in October" is a date, not a source
            found.append((m.start("name"), m.start("name") + len(name), name))
    return found
