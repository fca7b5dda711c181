"""HTML pages: main text and metadata extracted by trafilatura (parsed as data, never executed)."""

from __future__ import annotations

from urllib.parse import urlparse

import trafilatura
from trafilatura.settings import Document

from rag.ingest.base import Problem, ReadResult, make_article
from rag.ingest.clean import clean_body

#: Less page text than this is a menu or an error page, not an article (the shortest news brief is longer).
_MIN_TEXT_CHARS = 80


#: Dates only from the page's metadata, URL or a dated line, never guessed (htmldate's extensive search turns
#: a footer's "© 2023" into 2023-01-01); the original publication date rather than the last update.
_DATE_PARAMS = {"extensive_search": False, "original_date": True}


def parse(content: str, source: str) -> ReadResult:
    result = ReadResult()
    try:
        doc = trafilatura.bare_extraction(
            content,
            with_metadata=True,
            include_comments=False,
            include_tables=False,
            include_images=False,
            date_extraction_params=_DATE_PARAMS,
        )
    except Exception as exc:  # noqa: BLE001 - any parser failure is a per-file problem
        result.problems.append(Problem(source, f"HTML could not be parsed ({exc})"))
        return result
    # A Document, or None when nothing was extracted (a dict only with as_dict=True, which is not asked for).
    text = (doc.text or "") if isinstance(doc, Document) else ""
    if len(text.strip()) < _MIN_TEXT_CHARS or not isinstance(doc, Document):
        result.problems.append(Problem(source, "no article text found in the HTML page"))
        return result
    outlet = doc.sitename or ""
    if not outlet and doc.hostname:
        outlet = doc.hostname.removeprefix("www.")
    if not outlet and doc.url:
        outlet = urlparse(doc.url).hostname or ""
    cleaned = clean_body(text, doc.title or "")
    make_article(
        source=source,
        body=cleaned.body,
        outlet=outlet or cleaned.outlet,
        title=doc.title,
        published=doc.date or cleaned.published,
        url=doc.url,
        result=result,
    )
    return result
