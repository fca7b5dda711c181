"""Markdown and plain-text articles, with or without YAML front matter."""

from __future__ import annotations

import re
from pathlib import PurePath

import frontmatter
import yaml

from rag.ingest.base import Problem, ReadResult, make_article
from rag.ingest.clean import clean_body, split_date_prefix

_MD_IMAGE = re.compile(r"!\[[^\]]*\]\([^)]*\)")
_MD_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")
_MD_HEADING = re.compile(r"^#{1,6}\s+", re.M)
_MD_EMPHASIS = re.compile(r"(\*\*|__)(.+?)\1")

_KEYS = {
    "outlet": ("outlet", "source", "publisher", "site", "sitename"),
    "title": ("title", "headline"),
    "published": ("published", "date", "published_at", "pubdate"),
    "url": ("url", "link", "canonical_url"),
}


def _pick(meta: dict, field: str) -> object:
    for key in _KEYS[field]:
        if meta.get(key):
            return meta[key]
    return None


def markdown_to_text(text: str) -> str:
    """Plain text from light Markdown: images dropped, links kept as their words, markers removed."""
    text = _MD_IMAGE.sub("", text)
    text = _MD_LINK.sub(r"\1", text)
    text = _MD_HEADING.sub("", text)
    return _MD_EMPHASIS.sub(r"\2", text)


def parse(content: str, source: str) -> ReadResult:
    """One article from `.md`/`.txt`: front matter if present, else metadata inferred from the text."""
    result = ReadResult()
    meta: dict = {}
    body = content
    if content.lstrip().startswith("---"):
        try:
            post = frontmatter.loads(content.lstrip())
        except (yaml.YAMLError, ValueError) as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            result.problems.append(
                Problem(source, f"malformed front matter ({first}); fix the YAML between the '---' lines")
            )
            return result
        if not isinstance(post.metadata, dict):
            result.problems.append(Problem(source, "front matter is not a set of 'key: value' lines"))
            return result
        meta, body = dict(post.metadata), post.content
    if PurePath(source).suffix.lower() in {".md", ".markdown"}:
        body = markdown_to_text(body)

    title = _pick(meta, "title")
    if not title:
        first, _, rest = split_date_prefix(body)[1].strip().partition("\n")
        # A short first line that is not a sentence is a headline.
        if 0 < len(first) <= 200 and not first.rstrip().endswith((".", "”", '"')) and rest.strip():
            title = first.strip()
    cleaned = clean_body(body, str(title or ""))
    make_article(
        source=source,
        body=cleaned.body,
        outlet=_pick(meta, "outlet") or cleaned.outlet,
        title=title or PurePath(source).stem.replace("_", " "),
        published=_pick(meta, "published") or cleaned.published,
        url=_pick(meta, "url"),
        result=result,
    )
    return result
