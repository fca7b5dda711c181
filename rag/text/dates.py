"""Dates in questions: the period each names (read by dateparser) and the range its wording asks for.

    "published after October 2023" ──▶ DateMention(first 2023-10-01, last 2023-10-31, since 2023-11-01)

Where a date is: an ISO date, or a month name with a day and/or a year around it ("November 7, 2023",
"15 December", "October 2023"); a month alone only after a preposition ("in October", "since May": "May we
ask" is no date). What it is: dateparser reads the span (its day, month and year, whether it exists at all:
"February 30" does not). A date without a year takes the year that puts it closest before `reference` (the
newest article in the index); with no reference it is skipped, not guessed. The only rules here are the
words that turn a date into a bound: "after", "before", "since", "by", "between … and …".

The month and weekday names are defined here once (`MONTHS`, `WEEKDAYS`, `MONTH_ABBREVIATIONS`).
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any

MONTHS = tuple(calendar.month_name[1:])
WEEKDAYS = tuple(calendar.day_name)
#: Abbreviations of month names as news prose writes them ("Sept." too).
MONTH_ABBREVIATIONS = tuple(a for a in calendar.month_abbr[1:] if a != "May") + ("Sept",)
_MONTH = r"(?:" + "|".join(sorted(MONTHS + MONTH_ABBREVIATIONS, key=len, reverse=True)) + r")\.?"
MONTH_WORD = re.compile(rf"{_MONTH}(?![\w-])")
_ORD = r"(?:st|nd|rd|th)?"
_DAY = rf"\d{{1,2}}{_ORD}"
_YEAR = r"\d{4}\b"
_SPAN = re.compile(
    rf"\b\d{{4}}-\d{{2}}-\d{{2}}\b"
    rf"|\b{_MONTH}(?![\w-])(?:\s+{_DAY}\b)?(?:,?\s+{_YEAR})?"
    rf"|\b{_DAY}\s+(?:of\s+)?{_MONTH}(?![\w-])(?:,?\s+{_YEAR})?"
)
# A month alone is a date only after one of these ("in October"; "May we ask?" is not).
_MONTH_ALONE = re.compile(r"\b(?:in|during|of|since|after|before|until|till|by)\s+(?:early\s+|late\s+|mid-?)?$", re.I)
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


@lru_cache(maxsize=8)
def _parser(reference: date | None) -> Any:  # noqa: ANN401 - dateparser is untyped
    from dateparser.date import DateDataParser  # imported on first use: ~0.1 s

    settings: dict[str, Any] = {"PREFER_DAY_OF_MONTH": "first", "PARSERS": ["custom-formats", "absolute-time"]}
    if reference is not None:
        # No year given: the most recent such date not after the reference.
        settings |= {"PREFER_DATES_FROM": "past", "RELATIVE_BASE": datetime.combine(reference, datetime.min.time())}
    return DateDataParser(languages=["en"], settings=settings)


def _period(text: str, reference: date | None) -> tuple[date, date, bool] | None:
    """(first day, last day, day precision) of the date `text` names, by dateparser; None if it is none."""
    data = _parser(reference).get_date_data(text)
    if data is None or data.date_obj is None or data.period not in ("day", "month"):
        return None
    d = data.date_obj.date()
    if data.period == "day":
        return d, d, True
    first = d.replace(day=1)
    return first, first.replace(day=calendar.monthrange(d.year, d.month)[1]), False


def find_dates(question: str, reference: date | None = None) -> list[DateMention]:
    """The dates in `question`, each with the range its wording asks for."""
    out: list[DateMention] = []
    for m in _SPAN.finditer(question):
        text = m.group(0)
        before = question[max(0, m.start() - 40) : m.start()]
        has_year = bool(re.search(r"\d{4}", text))
        if not any(c.isdigit() for c in text) and not _MONTH_ALONE.search(before):
            continue
        if not has_year and reference is None:
            continue  # no year and nothing to take it from: no guess
        period = _period(text, reference if not has_year else None)
        if period is None:
            continue  # "February 30": not a date
        first, last, is_day = period
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
        iso = (since.isoformat() if since else None), (until.isoformat() if until else None)
        out.append(DateMention(m.start(), m.end(), text, first.isoformat(), last.isoformat(), *iso, is_day))
    # "between A and B": A opens the range, B closes it.
    for i in range(len(out) - 1):
        a, b = out[i], out[i + 1]
        gap = question[a.end : b.start]
        if _BETWEEN.search(question[max(0, a.start - 20) : a.start]) and re.fullmatch(r",?\s*and\s+", gap):
            out[i], out[i + 1] = replace(a, since=a.first, until=None), replace(b, since=None, until=b.last)
    return out
