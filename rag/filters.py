"""Outlet and date filters over the chunks of an index: boolean masks a search is restricted to.

A filter comes from the user (CLI flags, the app's sidebar) or from the question ("The Verge on November 7",
rag/reading.py). Dates are compared at the precision the article gives: a day, a month or a year, so an article
dated only "2025-09" can fall within a filter that starts on 2025-09-15. An undated article satisfies no date
filter. Masks are cached: the questions of one session name the same outlets again and again.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from datetime import date

import numpy as np

from rag.types import ArticleRef, Chunk

_MASK_CACHE = 256  # filter masks kept (one byte per chunk each: 200 KB at 200,000 chunks)


def date_bounds(published: str) -> tuple[str, str] | None:
    """First and last day an ISO date or month covers (`2025-09` → 2025-09-01..2025-09-30)."""
    if len(published) >= 10:
        return published[:10], published[:10]
    if len(published) == 7:
        y, m = int(published[:4]), int(published[5:7])
        return f"{published}-01", f"{published}-{calendar.monthrange(y, m)[1]:02d}"
    if len(published) == 4:
        return f"{published}-01-01", f"{published}-12-31"
    return None


def in_date_range(published: str, since: str | None, until: str | None) -> bool:
    """Whether an article's date (day, month or year precision) can fall within [since, until]."""
    if not since and not until:
        return True
    bounds = date_bounds(published)
    if bounds is None:
        return False  # an undated article cannot satisfy a date filter
    first, last = bounds
    return not ((since and last < since) or (until and first > until))


class ChunkFilters:
    """Per-chunk article and outlet numbers, so that a filter is a few array operations over all chunks."""

    def __init__(self, chunks: Sequence[Chunk], refs: dict[str, ArticleRef]) -> None:
        article_ids = sorted(refs)
        article_no = {a: i for i, a in enumerate(article_ids)}
        n = len(chunks)
        #: Article number of each chunk (chunks in the caller's order).
        self.chunk_article = np.fromiter((article_no[c.article_id] for c in chunks), dtype=np.int64, count=n)
        #: The index's outlets, sorted; `chunk_outlet` numbers them.
        self.outlets = sorted({a.outlet for a in refs.values()})
        outlet_no = {o: i for i, o in enumerate(self.outlets)}
        self.chunk_outlet = np.fromiter((outlet_no[refs[c.article_id].outlet] for c in chunks), np.int64, count=n)
        self.article_dates = [date_bounds(refs[a].published) for a in article_ids]
        dated = [b[1] for b in self.article_dates if b]
        #: The newest article's (last possible) day: a date without a year in a question is read before it.
        self.newest = date.fromisoformat(max(dated)) if dated else None
        self._masks: dict[tuple, np.ndarray] = {}  # filter → mask

    def mask(
        self, outlets: Sequence[str] = (), since: str | None = None, until: str | None = None
    ) -> np.ndarray | None:
        """Boolean mask over the chunks for outlet/date filters, or None when nothing is filtered."""
        if not (outlets or since or until):
            return None
        key = (tuple(sorted({o.casefold() for o in outlets})), since, until)
        cached = self._masks.get(key)
        if cached is not None:
            return cached
        mask = self._build(outlets, since, until)
        mask.flags.writeable = False  # shared by later searches: combine with `&`, never `&=`
        if len(self._masks) >= _MASK_CACHE:
            self._masks.pop(next(iter(self._masks)))
        self._masks[key] = mask
        return mask

    def _build(self, outlets: Sequence[str], since: str | None, until: str | None) -> np.ndarray:
        mask = np.ones(len(self.chunk_article), dtype=bool)
        if outlets:
            wanted = {o.casefold() for o in outlets}
            nos = [i for i, o in enumerate(self.outlets) if o.casefold() in wanted]
            mask &= np.isin(self.chunk_outlet, nos)
        if since or until:
            ok = [
                i
                for i, b in enumerate(self.article_dates)
                if b is not None and not ((since and b[1] < since) or (until and b[0] > until))
            ]
            mask &= np.isin(self.chunk_article, ok)
        return mask
