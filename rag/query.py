"""Reading a question's metadata: the corpus's outlets it names, the dates it gives, outlets it names that
the corpus does not have.

    "Between the report from The Verge on November 7, 2023, ... and the TechCrunch article ..."
        ──▶ mentions: The Verge (date 2023-11-07), TechCrunch
        ──▶ one SubQuery per mention (searched within that outlet, on/around that date) + notes for the user

Outlet names come from the index itself (never a fixed list): each corpus outlet is known by its full name
and by its head before a " | ", " - " or ": " separator ("FOX News - Health" is also "FOX News", which then
stands for every "FOX News - …" outlet). A match counts only when its words are capitalised as a name in the
question ("Fortune reported" is the outlet, "a fortune" is not).

Dates: "October 2, 2023", "2 October 2023", "October 2023", "2023-10-02", with the relation the words before
give them ("after", "before", "since", "by", "between … and …"); a date without a year takes the year that
puts it closest before the newest article in the index. A day or month named next to an outlet narrows that
outlet's sub-query; the whole question's range is reported too (`Analysis.since/until`).

Nothing here is keyed to a particular corpus: the outlet list and the reference date are arguments.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

from rag.types import SubQuery

# -- outlets -------------------------------------------------------------------------------------------------

_SEPARATOR = re.compile(r"\s+[|–—-]\s+|:\s+")
_DOMAIN = re.compile(r"\.(?:com|net|org|co\.uk|co|io)$", re.I)
# Small words that stay lower-case inside a name ("Times of India", "Life and Style").
_NAME_GLUE = frozenset({"the", "of", "and", "&", "for", "in", "on", "a", "an", "|", "-", "–", "—", ":"})


def outlet_aliases(outlet: str) -> set[str]:
    """The ways a question may name `outlet`: full name, head before a separator, without "The"/domain."""
    name = " ".join(outlet.split())
    aliases = {name}
    head = _SEPARATOR.split(name, maxsplit=1)[0].strip()
    if len(head) >= 3:
        aliases.add(head)
    for a in list(aliases):
        bare = _DOMAIN.sub("", a)
        if bare != a and len(bare) >= 3:
            aliases.add(bare)
    for a in list(aliases):
        # "The New York Times" is also "New York Times"; but "The Age" never just "Age".
        if a.lower().startswith("the ") and len(a.split()) >= 3:
            aliases.add(a[4:])
    return aliases


def _looks_like_name(text: str) -> bool:
    """Whether every word of `text` outside small glue words starts with a capital letter or a digit."""
    words = [w for w in re.split(r"\s+", text) if w]
    return all(w.lower() in _NAME_GLUE or w[:1].isupper() or w[:1].isdigit() for w in words)


@dataclass(frozen=True, slots=True)
class OutletMention:
    """A place in the question that names one or more corpus outlets (several when the name is shared)."""

    start: int
    end: int
    text: str
    outlets: tuple[str, ...]


class OutletMatcher:
    """Finds corpus outlet names in questions. Build once per index (one compiled pattern)."""

    def __init__(self, outlets: Iterable[str]) -> None:
        self.by_alias: dict[str, set[str]] = {}
        for outlet in outlets:
            for alias in outlet_aliases(outlet):
                self.by_alias.setdefault(alias.casefold(), set()).add(outlet)
        # Longest alias first, so "FOX News - Health" wins over "FOX News".
        alts = sorted(self.by_alias, key=len, reverse=True)
        body = "|".join(r"\s+".join(re.escape(w) for w in a.split()) for a in alts)
        # Not inside a word or domain, and not a name followed by a number: "Fortune 500", "Time 100" are lists.
        self._pattern = re.compile(rf"(?<![\w&])(?:{body})(?![\w&]|\.\w|\s+\d)", re.I) if alts else None

    def find(self, text: str) -> list[OutletMention]:
        if self._pattern is None:
            return []
        out = []
        for m in self._pattern.finditer(text):
            if not _looks_like_name(m.group(0)):
                continue
            key = " ".join(m.group(0).split()).casefold()
            out.append(OutletMention(m.start(), m.end(), m.group(0), tuple(sorted(self.by_alias[key]))))
        return out

    def known(self, name: str) -> bool:
        """Whether `name` (e.g. from "a Bloomberg article") is one of the corpus's outlets or their aliases."""
        key = " ".join(name.split()).casefold()
        return key in self.by_alias or (key.startswith("the ") and key[4:] in self.by_alias)


# A capitalised name of up to six words, allowing glue words inside ("The Times of India").
_NAME = r"(?:[Tt]he\s+)?[A-Z][\w&.'’-]*(?:\s+(?:(?:of|and|&|for)\s+)?[A-Z][\w&.'’-]*){0,5}"
# Nouns for a piece of journalism ("investigation", "feature" and the like also name other things).
_WORK = r"(?:article|piece|story|report|op-ed|column|coverage|editorial)"
# "a Bloomberg article", "the ESPN report", "an article from The Economist", "reported by Forbes".
_SLOT_BEFORE = re.compile(rf"\b(?:a|an|the)\s+[\"'‘“]?(?P<name>{_NAME})[\"'’”]?(?:'s|’s)?\s+{_WORK}s?\b")
_SLOT_AFTER = re.compile(
    rf"\b(?:{_WORK}s?|reported|published|written|covered)\s+(?:from|by|in)\s+[\"'‘“]?(?P<name>{_NAME})"
)


def source_names(question: str) -> list[tuple[int, int, str]]:
    """Names the question gives as the source of an article ("a Bloomberg article", "a piece from Wired")."""
    found = []
    for pattern in (_SLOT_BEFORE, _SLOT_AFTER):
        for m in pattern.finditer(question):
            name = m.group("name").rstrip(".'’")
            name = re.sub(r"(?:'s|’s)$", "", name)
            if _MONTH_WORD.fullmatch(name.split()[0]) or name.lower() in {"the", "a", "an"}:
                continue  # "an article in October" is a date, not a source
            found.append((m.start("name"), m.start("name") + len(name), name))
    return found


# -- dates ---------------------------------------------------------------------------------------------------

_MONTHS = {name.lower(): i for i, name in enumerate(calendar.month_name) if name}
_MONTHS |= {name.lower(): i for i, name in enumerate(calendar.month_abbr) if name}
_MONTHS["sept"] = 9
_MONTH = r"(?:January|February|March|April|May|June|July|August|September|October|November|December|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept|Sep|Oct|Nov|Dec)\.?"  # noqa: E501
_MONTH_WORD = re.compile(_MONTH)
_ORD = r"(?:st|nd|rd|th)?"
_DATE = re.compile(
    rf"(?P<iso>\b\d{{4}}-\d{{2}}-\d{{2}}\b)"
    rf"|\b(?P<m1>{_MONTH})\s+(?P<d1>\d{{1,2}}){_ORD}\b(?:,?\s+(?P<y1>\d{{4}})\b)?"
    rf"|\b(?P<d2>\d{{1,2}}){_ORD}\s+(?:of\s+)?(?P<m2>{_MONTH})(?:,?\s+(?P<y2>\d{{4}})\b)?"
    rf"|\b(?P<m3>{_MONTH})(?:,?\s+(?P<y3>\d{{4}})\b)"
    rf"|\b(?:in|during|of|since|after|before|until|till|by)\s+(?:early\s+|late\s+|mid-?)?(?P<m4>{_MONTH})(?![\w-])(?!,?\s+\d)"
)
# Words just before a date that turn it into a bound; anything else means "on/in that day or month".
_AFTER = re.compile(r"\b(?:after|later\s+than|following)\s+(?:the\s+)?$", re.I)
_SINCE = re.compile(r"\b(?:since|from|starting|as\s+of|on\s+or\s+after)\s+$", re.I)
_BEFORE = re.compile(r"\b(?:before|prior\s+to|earlier\s+than|ahead\s+of)\s+(?:the\s+)?$", re.I)
_UNTIL = re.compile(r"\b(?:by|until|till|through|up\s+to|on\s+or\s+before)\s+$", re.I)
_BETWEEN = re.compile(r"\bbetween\s+$", re.I)


@dataclass(frozen=True, slots=True)
class DateMention:
    """A date in the question: the period it names and the range it asks for (inclusive ISO dates)."""

    start: int
    end: int
    text: str
    first: str  # the period named: a day, or the first and last day of a month
    last: str
    since: str | None  # the range the question asks for ("after October 2023" → since 2023-11-01)
    until: str | None
    day: bool  # day precision


def _resolve_year(month: int, day: int | None, year: str | None, reference: date | None) -> int | None:
    if year:
        return int(year)
    if reference is None:
        return None
    # No year given: the most recent such date not after the reference (the newest article).
    y = reference.year
    first = date(y, month, min(day or 1, calendar.monthrange(y, month)[1]))
    return y if first <= reference else y - 1


def find_dates(question: str, reference: date | None = None) -> list[DateMention]:
    """The dates in `question`, each with the range its wording asks for."""
    out: list[DateMention] = []
    for m in _DATE.finditer(question):
        g = m.groupdict()
        try:
            if g["iso"]:
                d = date.fromisoformat(g["iso"])
                first = last = d
                is_day = True
            else:
                mname = g["m1"] or g["m2"] or g["m3"] or g["m4"]
                month = _MONTHS[mname.rstrip(".").lower()]
                day_s = g["d1"] or g["d2"]
                year = _resolve_year(month, int(day_s) if day_s else None, g["y1"] or g["y2"] or g["y3"], reference)
                if year is None:
                    continue
                if day_s:
                    first = last = date(year, month, int(day_s))
                    is_day = True
                else:
                    first = date(year, month, 1)
                    last = date(year, month, calendar.monthrange(year, month)[1])
                    is_day = False
        except (ValueError, KeyError):
            continue  # "February 30": not a date
        start = min(m.start(k) for k in ("iso", "m1", "d2", "m3", "m4") if g[k])
        before = question[max(0, start - 40) : start]
        since: date | None = first
        until: date | None = last
        if _AFTER.search(before):
            since, until = last + timedelta(days=1), None
        elif _SINCE.search(before):
            since, until = first, None
        elif _BEFORE.search(before):
            since, until = None, first - timedelta(days=1)
        elif _UNTIL.search(before):
            since, until = None, last
        out.append(
            DateMention(
                start,
                m.end(),
                question[start : m.end()],
                first.isoformat(),
                last.isoformat(),
                since.isoformat() if since else None,
                until.isoformat() if until else None,
                is_day,
            )
        )
    # "between A and B": A opens the range, B closes it.
    for a, b in zip(out, out[1:], strict=False):
        gap = question[a.end : b.start]
        if _BETWEEN.search(question[max(0, a.start - 20) : a.start]) and re.fullmatch(r",?\s*and\s+", gap):
            i = out.index(a)
            out[i] = DateMention(a.start, a.end, a.text, a.first, a.last, a.first, None, a.day)
            out[i + 1] = DateMention(b.start, b.end, b.text, b.first, b.last, None, b.last, b.day)
    return out


# -- the analysis ----------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Analysis:
    """What a question says about where and when to look."""

    outlets: list[str] = field(default_factory=list)  # every corpus outlet named, in order
    subqueries: list[SubQuery] = field(default_factory=list)
    dates: list[DateMention] = field(default_factory=list)
    since: str | None = None  # hull of the ranges the dates ask for
    until: str | None = None
    unknown_sources: list[str] = field(default_factory=list)  # named as a source, not a corpus outlet
    notes: list[str] = field(default_factory=list)


# A clause ends at these; a date belongs to the outlet mention in its clause.
_CLAUSE_BREAK = re.compile(r",\s+(?:and|but|while|whereas)\b|\band\s+(?:the|a|an)\b|;|\?|\bwhile\b|\bwhereas\b")


def _clause(question: str, start: int, end: int) -> tuple[int, int]:
    left = 0
    for m in _CLAUSE_BREAK.finditer(question, 0, start):
        left = m.end()
    after = _CLAUSE_BREAK.search(question, end)
    right = after.start() if after else len(question)
    return left, right


def _hull(dates: Sequence[DateMention]) -> tuple[str | None, str | None]:
    if not dates:
        return None, None
    sinces = [d.since for d in dates]
    untils = [d.until for d in dates]
    since = None if any(s is None for s in sinces) else min(s for s in sinces if s)
    until = None if any(u is None for u in untils) else max(u for u in untils if u)
    return since, until


def analyse(question: str, matcher: OutletMatcher, reference: date | None = None) -> Analysis:
    """Outlets, dates and unknown sources named in `question`, grouped into per-outlet facets."""
    result = Analysis()
    mentions = matcher.find(question)
    result.dates = find_dates(question, reference)
    result.since, result.until = _hull(result.dates)
    for m in mentions:
        for o in m.outlets:
            if o not in result.outlets:
                result.outlets.append(o)
    # Each date belongs to the nearest outlet mention in its clause ("The Verge on November 7").
    owner: dict[int, list[DateMention]] = {}
    for d in result.dates:
        best = None
        for i, m in enumerate(mentions):
            left, right = _clause(question, m.start, m.end)
            if left <= d.start and d.end <= right:
                gap = d.start - m.end if d.start >= m.end else m.start - d.end
                if best is None or gap < best[0]:
                    best = (gap, i)
        if best is not None:
            owner.setdefault(best[1], []).append(d)
    seen: set[tuple] = set()
    for i, m in enumerate(mentions):
        left, right = _clause(question, m.start, m.end)
        since, until = _hull(owner.get(i, []))
        text = question[left:right].strip(" ,")
        key = (m.outlets, since, until)
        if key in seen:
            continue
        seen.add(key)
        result.subqueries.append(SubQuery(text, m.outlets, since, until))
    # Dates named apart from any outlet ("published after October 2023"): search that period too.
    if (result.since or result.until) and not any(sq.since or sq.until for sq in result.subqueries):
        result.subqueries.append(SubQuery(question, (), result.since, result.until))
    if len(parts := question_parts(question, mentions)) > 1:
        result.subqueries.extend(SubQuery(text, outlets, kind="part") for text, outlets in parts)
    covered = [(m.start, m.end) for m in mentions]
    for s, e, name in source_names(question):
        inside = any(s < ce and cs < e for cs, ce in covered)
        if not inside and not matcher.known(name) and name not in result.unknown_sources:
            result.unknown_sources.append(name)
    for f in result.subqueries:
        if f.kind != "source":
            continue
        when = _describe_range(f.since, f.until)
        where = " / ".join(f.outlets) if f.outlets else "articles"
        result.notes.append(f"also searched {where}" + (f" {when}" if when else "") + " on their own")
    n_parts = sum(f.kind == "part" for f in result.subqueries)
    if n_parts:
        result.notes.append(f"searched each of the question's {n_parts} parts on its own")
    return result


# Where a question's parts meet: a comma (optionally followed by a conjunction), a semicolon, or a
# conjunction ("provides a cash-out option and offers new customers…", "while the"). A side too short to stand
# alone ("both The Verge and TechCrunch") joins the part before it (below). Breaking at every "and" rather than
# only before a new predicate ("and is", "and the"): MultiHop-RAG dev AllFacts@10 0.448 → 0.460 (with the
# part-sentence re-rank weight, docs/evaluation.md).
_PART_BREAK = re.compile(r",\s+(?:and\s+|while\s+|but\s+|whereas\s+)?|\s+(?:and|while|whereas|but)\s+|;")
# Words that only attribute a part to a source ("as reported by", "according to"): a part made of little
# else is attached to the part before it.
_ATTRIBUTION = frozenset(
    "as reported by according to noted in per the article report reports reported piece story "
    "coverage covered further discussed mentioned highlighted featured both and did does was were is are has "
    "have had what which who whom how whether there between after before that this from with for about on "
    "published".split()
)
_DATE_WORD = re.compile(rf"^(?:{_MONTH}|\d+(?:st|nd|rd|th)?)$", re.I)
#: A part needs at least this many content words of its own to be searched alone.
_MIN_PART_WORDS = 3


def question_parts(question: str, mentions: Sequence[OutletMention]) -> list[tuple[str, tuple[str, ...]]]:
    """The question's clauses, each with the outlets it names; attribution-only clauses join the previous."""
    spans: list[tuple[int, int]] = []
    last = 0
    for brk in _PART_BREAK.finditer(question):
        spans.append((last, brk.start()))
        last = brk.end()
    spans.append((last, len(question)))
    parts: list[tuple[int, int, set[str], int]] = []  # start, end, outlets named, content words
    for s, e in spans:
        if not question[s:e].strip():
            continue
        inside = [m for m in mentions if s <= m.start < e]
        outlets = {o for m in inside for o in m.outlets}
        rest = question[s:e]
        for m in inside:
            rest = rest.replace(m.text, " ")
        words = [
            w
            for w in re.findall(r"[\w'’-]+", rest.lower())
            if w not in _ATTRIBUTION and len(w) > 2 and not _DATE_WORD.match(w)
        ]
        if len(words) < _MIN_PART_WORDS and parts:
            ps, _, po, pn = parts[-1]
            parts[-1] = (ps, e, po | outlets, pn + len(words))
        else:
            parts.append((s, e, outlets, len(words)))
    # A part with too few words of its own (only who said it and when) is not searched alone.
    return [(question[s:e].strip(" ,;?"), tuple(sorted(outlets))) for s, e, outlets, n in parts if n >= _MIN_PART_WORDS]


def _describe_range(since: str | None, until: str | None) -> str:
    if since and until:
        return f"published {since}" if since == until else f"published {since} to {until}"
    if since:
        return f"published on or after {since}"
    if until:
        return f"published on or before {until}"
    return ""
