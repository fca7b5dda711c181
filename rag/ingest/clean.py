"""Separating the article from text around it that is not the article.

Raw texts arrive with a scraper's `date YYYY-MM-DD` prefix, "N min read" badges, the title repeated as
the first line, a "Published in <Outlet>, <date>" footer, a dangling "Sources" heading, or a donation
appeal. None of that may be quoted as the outlet's words, so it is cut from the body; what it tells us
(date, outlet) is kept as metadata. The rules are deliberately conservative: they only cut text at the
start or the end of the article, and only when it matches a known shape.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rag.ingest.dates import normalise_date

_DATE_PREFIX = re.compile(r"^\s*date\s+(\d{4}-\d{2}-\d{2})\b[ \t]*")
_READ_TIME = re.compile(r"^\s*\d{1,3}\s+min(ute)?s?\s+read\s*$", re.I)
_PUBLISHED_IN = re.compile(
    r"^\s*(?:Published|Originally published|First published)\s+(?:in|by|on)\s+(?P<outlet>[^,\n]{2,60}?)"
    r"(?:\s*,\s*(?P<date>[^\n]{4,40}?))?\s*\.?\s*$",
    re.I,
)
_DANGLING_HEADINGS = {
    "sources",
    "source",
    "references",
    "related",
    "related articles",
    "read more",
    "more on this story",
    "see also",
    "advertisement",
}
#: Phrases that mark a fundraising or subscription appeal (checked only in the last paragraphs).
_APPEAL = re.compile(
    r"tax-deductible|make a (?:one-time |monthly )?donation|donate (?:now|today)|reader support|"
    r"support (?:our|independent) journalism|become a (?:member|subscriber|patron)|subscribe (?:now|today)",
    re.I,
)
#: An appeal speaks to the reader; reporting about donations ("readers were asked to donate") does not.
_READER = re.compile(r"\b(?:you|your|we|us|our)\b", re.I)
#: Short lines just before an appeal that belong to it (its heading and pitch).
_APPEAL_LEADIN = re.compile(r"journalism|independent media|press freedom|reporting you|our work", re.I)


@dataclass(slots=True)
class Cleaned:
    body: str
    published: str = ""
    outlet: str = ""


def _is_appeal(paragraph: str) -> bool:
    return bool(_APPEAL.search(paragraph) and _READER.search(paragraph))


def _paragraphs(text: str) -> list[str]:
    sep = "\n\n" if "\n\n" in text else "\n"
    return [p for p in (x.strip() for x in text.split(sep)) if p]


def _joiner(text: str) -> str:
    return "\n\n" if "\n\n" in text else "\n"


def split_date_prefix(text: str) -> tuple[str, str]:
    """(date, rest): a scraper's leading `date YYYY-MM-DD` removed, so it is neither body nor headline."""
    m = _DATE_PREFIX.match(text)
    return (m.group(1), text[m.end() :]) if m else ("", text)


def clean_body(text: str, title: str = "") -> Cleaned:
    """Cut known non-article text from the start and end of `text`; return what it revealed."""
    out = Cleaned(body="")
    out.published, text = split_date_prefix(text)
    joiner = _joiner(text)
    paras = _paragraphs(text)

    # Start: repeated title, read-time badges.
    norm_title = " ".join(title.split()).lower()
    while paras and (_READ_TIME.match(paras[0]) or (norm_title and " ".join(paras[0].split()).lower() == norm_title)):
        paras.pop(0)
    paras = [p for p in paras if not _READ_TIME.match(p)]

    # End: "Published in X, date", dangling headings, appeals (repeat: they can stack).
    changed = True
    while paras and changed:
        changed = False
        last = paras[-1]
        pm = _PUBLISHED_IN.match(last)
        if pm:
            out.outlet = out.outlet or pm.group("outlet").strip()
            if pm.group("date") and not out.published:
                out.published = normalise_date(pm.group("date"))
            paras.pop()
            changed = True
            continue
        if last.strip(" :#*").lower() in _DANGLING_HEADINGS:
            paras.pop()
            changed = True
            continue
        tail_start = max(0, len(paras) - 4)
        hit = next((i for i in range(tail_start, len(paras)) if _is_appeal(paras[i])), None)
        # Only an appeal that ends the text (nothing but more appeal after it) is cut: a story that reports
        # on donations or tax-deductible gifts keeps its words.
        if hit is not None and all(_is_appeal(p) or len(p) < 40 for p in paras[hit + 1 :]):
            cut = hit
            while (
                cut > max(tail_start, 1)  # the first paragraph is always the article's
                and len(paras[cut - 1]) < 300
                and (_APPEAL_LEADIN.search(paras[cut - 1]) or len(paras[cut - 1]) < 40)
            ):
                cut -= 1
            if cut > 0:  # never the whole text
                del paras[cut:]
                changed = True
    out.body = joiner.join(paras)
    return out
