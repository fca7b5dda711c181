"""A conversation as a file: Markdown to read or share, JSON in the `rag ask --json` shape to process.

Markdown: each question as a heading, the answer's text with its `[n]` markers, then its numbered sources
(outlet, title, date, link, the quoted passage). Refusals say so. JSON: a list of `Answer.to_json()` objects
(the CLI's contract), each with the conversation and turn as its `id`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from rag.conversations import StoredMessage
from rag.ui.render import format_date, safe_url

_MD_CHARS = re.compile(r"([\\`*_\[\]<>#|])")


def _md(text: str) -> str:
    """Text safe inside Markdown: characters that would start markup are backslash-escaped."""
    return _MD_CHARS.sub(r"\\\1", text)


def _quote_block(text: str) -> str:
    return "\n".join(f"> {_md(line)}" if line.strip() else ">" for line in text.split("\n"))


def conversation_markdown(title: str, messages: Sequence[StoredMessage]) -> str:
    """The conversation as Markdown: questions, answers and every answer's numbered sources."""
    out = [f"# {_md(title)}", ""]
    for m in messages:
        a = m.answer
        if a is None:
            if m.role == "user":
                out += [f"## {_md(m.text)}", ""]
            else:
                out += [_md(m.text), ""]
            continue
        if a.refused:
            out += ["**Not answered by the articles.** " + _md(a.text), ""]
            continue
        out += [_md(line) for line in a.text.split("\n") if line.strip()]
        out += ["", f"*Searched for: “{_md(a.search_query or a.question)}”*", ""]
        if a.citations:
            out += ["**Sources**", ""]
            for c in a.citations:
                link = safe_url(c.url)
                dest = c.url.strip().replace("(", "%28").replace(")", "%29")
                title_md = f"[{_md(c.title)}]({dest})" if link else _md(c.title)
                out.append(f"{c.n}. **{_md(c.outlet)}** — {title_md} ({format_date(c.published)})")
                if c.url and not link:
                    out.append(f"   {_md(c.url)}")
                out += ["", _quote_block(c.quote), ""]
    return "\n".join(out).rstrip() + "\n"


def conversation_json(conversation_id: str, messages: Sequence[StoredMessage]) -> str:
    """The answers of the conversation as a JSON list of `rag ask --json` objects."""
    answers = [m.answer for m in messages if m.answer is not None]
    items = [a.to_json(f"{conversation_id}:{i}") for i, a in enumerate(answers, start=1)]
    return json.dumps(items, ensure_ascii=False, indent=2) + "\n"


def file_stem(title: str) -> str:
    """A download file name from a conversation title."""
    stem = re.sub(r"[^A-Za-z0-9]+", "-", title).strip("-").lower()[:60]
    return stem or "conversation"
