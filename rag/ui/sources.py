"""Citations grouped by outlet, and the figures each outlet reports, for showing outlets side by side.

When several outlets answer a question, a reader wants to see who said what, and above all whether the
numbers agree ("83 killed" in one outlet, "at least 80" in another). `differing_figures` finds the numbers
in each outlet's quotes and reports them only when the outlets do not all give the same ones.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from rag.text.dates import MONTH_ABBREVIATIONS, MONTHS
from rag.types import Citation


@dataclass(slots=True)
class OutletGroup:
    """One outlet's citations, in the order the answer cites them."""

    outlet: str
    citations: list[Citation] = field(default_factory=list)


def group_by_outlet(citations: Sequence[Citation]) -> list[OutletGroup]:
    """Citations grouped by outlet; outlets in order of their first citation (the answer's own order)."""
    groups: dict[str, OutletGroup] = {}
    for c in citations:
        groups.setdefault(c.outlet, OutletGroup(c.outlet)).citations.append(c)
    return list(groups.values())


_MONTHS = "|".join(sorted((m.lower() for m in MONTHS + MONTH_ABBREVIATIONS), key=len, reverse=True))
_SCALES = {"thousand": 1e3, "million": 1e6, "billion": 1e9, "trillion": 1e12, "bn": 1e9, "m": 1e6, "k": 1e3}
# A figure: optional currency, a number (thousands separators allowed), optional scale word or percent.
# Not part of a word or code ("F-35", "G20", "COVID-19"): no letter, digit or hyphen right before it.
_FIGURE = re.compile(
    r"(?<![\w\-/.,])(?P<cur>[$€£¥]\s?)?(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)"
    r"(?:\s?(?P<pct>%|percent\b|per cent\b)|\s(?P<scale>thousand|million|billion|trillion)\b|(?P<abbr>bn|m|k)\b)?"
    r"(?![\w\-/])"
)
_AFTER_MONTH = re.compile(rf"\b(?:{_MONTHS})\.?\s*$", re.I)
_BEFORE_MONTH = re.compile(rf"^(?:st|nd|rd|th)?\s+(?:of\s+)?(?:{_MONTHS})\b", re.I)


@dataclass(frozen=True, slots=True)
class Figure:
    """A number as written in a quote, with a key that compares equal for equal quantities."""

    text: str
    key: str
    n: int  # the citation it comes from
    start: int  # span in the quote
    end: int


def _is_date_part(quote: str, m: re.Match[str]) -> bool:
    """Years and days of the month are dates, not figures ("in 2025", "on March 5", "5 March")."""
    if m.group("cur") or m.group("pct") or m.group("scale") or m.group("abbr"):
        return False
    num = m.group("num")
    if re.fullmatch(r"(1[89]|20)\d\d", num):  # a bare four-digit number from 1800 to 2099 reads as a year
        return True
    near_month = _AFTER_MONTH.search(quote[: m.start()]) or _BEFORE_MONTH.match(quote[m.end() :])
    return len(num) <= 2 and near_month is not None


def figures_in(quote: str, n: int = 0) -> list[Figure]:
    """The figures (counts, amounts, percentages) in a quoted passage; years and dates are left out."""
    out = []
    for m in _FIGURE.finditer(quote):
        if _is_date_part(quote, m):
            continue
        value = float(m.group("num").replace(",", ""))
        scale = m.group("scale") or m.group("abbr")
        if scale:
            value *= _SCALES[scale.lower()]
        unit = "%" if m.group("pct") else (m.group("cur") or "").strip()
        key = f"{unit}{value:g}"
        out.append(Figure(m.group(0).strip(), key, n, m.start(), m.end()))
    return out


def differing_figures(groups: Sequence[OutletGroup]) -> dict[str, list[Figure]]:
    """Each outlet's figures, when at least two outlets give figures and they do not all give the same ones.

    Empty when there is nothing to compare (one outlet, or no numbers) or when every outlet reports the
    same set of numbers: then the side-by-side table would only repeat the quotes.
    """
    per_outlet = {g.outlet: [f for c in g.citations for f in figures_in(c.quote, c.n)] for g in groups}
    with_figures = {o: figs for o, figs in per_outlet.items() if figs}
    if len(with_figures) < 2:
        return {}
    keysets = {frozenset(f.key for f in figs) for figs in with_figures.values()}
    if len(keysets) == 1:
        return {}
    return with_figures
