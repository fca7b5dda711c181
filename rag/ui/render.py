"""Answers, citation cards, refusals and the article view as HTML that is safe to hand to `st.html`.

The rule everywhere: text that comes from an article, an upload or the user is passed through
`html.escape` first, and only then is our own markup put around it (or, for the article view, inserted at
the escaped span's boundaries). Escaping a string piecewise gives the same result as escaping it whole,
so cutting the body at a citation's span before escaping never splits an entity. Nothing rendered here goes
through a Markdown parser (the app uses `st.html`, which does not interpret Markdown), so `[x](y)`, `**`,
`$` or `:emoji:` in an article stay the characters they are. URLs become links only when they are
absolute http(s) addresses.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date
from html import escape
from urllib.parse import urlsplit

from rag.text.markers import MARKER
from rag.types import Answer, Citation
from rag.ui.sources import Figure, OutletGroup

#: Styles for everything below (sent once per page through `st.html`, which accepts a lone <style> block).
STYLE = """<style>
.rag-answer { line-height: 1.6; }
.rag-answer .rag-line { margin: 0 0 .45rem 0; }
.rag-answer .rag-line-outlet { font-weight: 600; }
.rag-cite { font-size: .75em; font-weight: 600; color: #1a5fb4; vertical-align: super; margin-left: 1px; }
.rag-search { font-size: .78rem; color: #6b6f76; margin-top: .25rem; }
.rag-draft { opacity: .8; }
.rag-draft .rag-line:last-of-type::after { content: " ▍"; }
.rag-refusal { border-left: 4px solid #c64600; background: rgba(198, 70, 0, .07); padding: .6rem .8rem;
  border-radius: .3rem; }
.rag-refusal-title { font-weight: 600; color: #a33a00; margin-bottom: .2rem; }
.rag-refusal-note { font-size: .85rem; color: #6b6f76; margin-top: .3rem; }
.rag-outlet-head { font-weight: 600; margin: .2rem 0 .3rem 0; }
.rag-card { border: 1px solid rgba(128, 128, 128, .35); border-radius: .5rem; padding: .55rem .75rem;
  margin-bottom: .35rem; }
.rag-card-head { font-size: .8rem; color: #6b6f76; }
.rag-card-head .rag-n { font-weight: 700; color: #1a5fb4; margin-right: .3rem; }
.rag-card-head .rag-outlet { font-weight: 600; color: inherit; }
.rag-card-title { font-weight: 600; margin: .15rem 0 .3rem 0; }
.rag-quote { border-left: 3px solid rgba(128, 128, 128, .5); margin: 0; padding: .1rem 0 .1rem .6rem;
  font-style: italic; white-space: pre-wrap; }
.rag-figures table { border-collapse: collapse; width: 100%; font-size: .9rem; }
.rag-figures th, .rag-figures td { border: 1px solid rgba(128, 128, 128, .35); padding: .3rem .5rem;
  vertical-align: top; text-align: left; }
.rag-figures .rag-fig { font-weight: 700; }
.rag-article-meta { font-size: .85rem; color: #6b6f76; margin-bottom: .5rem; }
.rag-article { white-space: pre-wrap; line-height: 1.55; }
.rag-article mark.rag-hl { background: #ffe066; color: inherit; padding: 0 .1rem; border-radius: .15rem; }
.rag-article mark.rag-hl-other { background: rgba(255, 224, 102, .35); color: inherit; }
.rag-report ul { margin: .2rem 0 .4rem 1.1rem; padding: 0; }
.rag-report .rag-bad { color: #a33a00; }
.rag-status td { padding: 0 .6rem .1rem 0; white-space: nowrap; }
.rag-index-note { font-size: .85rem; color: #26734d; border-left: 3px solid #2f9e66; padding: .15rem .6rem;
  margin-bottom: .4rem; }
</style>"""

_MONTH_NAMES = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()


def safe_url(url: str) -> str | None:
    """The URL, escaped for an attribute, if it is an absolute http(s) address; else None (no link)."""
    url = (url or "").strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in {"http", "https"} or not parts.netloc or any(ch.isspace() for ch in url):
        return None
    return escape(url, quote=True)


def format_date(published: str) -> str:
    """`2026-03-06` → `6 Mar 2026`, `2025-09` → `Sep 2025`; anything else as given, or 'date unknown'."""
    p = (published or "").strip()
    try:
        if len(p) >= 10:
            d = date.fromisoformat(p[:10])
            return f"{d.day} {_MONTH_NAMES[d.month - 1]} {d.year}"
        if len(p) == 7 and p[4] == "-":
            return f"{_MONTH_NAMES[int(p[5:7]) - 1]} {p[:4]}"
    except (ValueError, IndexError):
        pass
    return p or "date unknown"


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~<>$:&=\"'])")


def md_escape(s: str) -> str:
    """Text for Streamlit's Markdown (`st.error`, `st.caption`): every punctuation mark backslash-escaped.

    CommonMark treats a backslash-escaped ASCII punctuation character as that literal character, so no
    link, emphasis, HTML, `$math$` or `:directive[]` can form from it.
    """
    return _MD_SPECIAL.sub(r"\\\1", s)


def _text(s: str) -> str:
    """Escaped text with line breaks kept (the containers use `white-space: pre-wrap` where it matters)."""
    return escape(s, quote=True)


def answer_html(answer: Answer) -> str:
    """The answer text with `[n]` markers as superscripts; each line of the answer a paragraph.

    Only markers naming one of the answer's citations are styled; any other bracketed number (say, a
    footnote mark inside a quote) stays plain text. An outlet name that opens a line ("Dawn: …", as the
    extractive answerer writes it) is set in bold.
    """
    valid = {c.n for c in answer.citations}
    outlets = {c.outlet for c in answer.citations}
    lines = []
    for line in answer.text.split("\n"):
        if not line.strip():
            continue
        head, sep, rest = line.partition(": ")
        prefix = ""
        if sep and head in outlets:
            prefix, line = f'<span class="rag-line-outlet">{_text(head)}:</span> ', rest
        body = _text(line)
        body = MARKER.sub(
            lambda m: f'<span class="rag-cite">[{m.group(1)}]</span>' if int(m.group(1)) in valid else m.group(0),
            body,
        )
        lines.append(f'<p class="rag-line">{prefix}{body}</p>')
    return f'<div class="rag-answer">{"".join(lines)}</div>'


def draft_html(text: str) -> str:
    """A language model's answer while it is being written: plain escaped lines, its `[n]` markers not yet
    checked (not styled as citations), and a note that the checked answer and its sources follow."""
    lines = "".join(f'<p class="rag-line">{_text(line)}</p>' for line in text.split("\n") if line.strip())
    note = "Writing… each sentence is checked against the passages when the answer is complete."
    return f'<div class="rag-answer rag-draft">{lines}</div><div class="rag-search">{note}</div>'


def search_html(answer: Answer) -> str:
    """Small print under an answer: the search actually run and the filters applied."""
    parts = [f"Searched for: “{_text(answer.search_query or answer.question)}”"]
    f = answer.filters or {}
    if f.get("outlets"):
        parts.append("outlets: " + ", ".join(_text(o) for o in f["outlets"]))
    if f.get("since") or f.get("until"):
        parts.append(f"published {_text(f.get('since') or '…')} – {_text(f.get('until') or '…')}")
    for note in f.get("notes") or []:
        parts.append(_text(str(note)))
    if answer.answerer and answer.answerer != "extractive":
        parts.append(f"written by {_text(answer.answerer)}, each sentence checked against the passage it cites")
    return f'<div class="rag-search">{" · ".join(parts)}</div>'


def note_html(text: str) -> str:
    """A line of small print (a warning that came with an answer)."""
    return f'<div class="rag-search">{_text(text)}</div>'


def user_filtered(answer: Answer) -> bool:
    """Whether the user's own filters (outlets, dates) limited the search, not outlets the question implied."""
    f = answer.filters or {}
    return bool((f.get("outlets") and not f.get("narrowed")) or f.get("since") or f.get("until"))


def refusal_html(answer: Answer, filtered: bool = False) -> str:
    """A refusal: plainly marked, the reason if known, and what the user can try. No sources."""
    notes = [_text(w) for w in answer.warnings]
    hint = "Try other words, ask about something the articles cover, or add articles in the sidebar."
    if (answer.filters or {}).get("narrowed") and not filtered:
        outlets = ", ".join(answer.filters.get("outlets") or [])
        hint = f"The question itself narrowed the search to {_text(outlets)}; ask about all outlets to widen it."
    if filtered:
        hint = "Filters are on (sidebar): widen or clear them, or try other words."
    notes.append(hint)
    note_html = "".join(f'<div class="rag-refusal-note">{n}</div>' for n in notes)
    return (
        '<div class="rag-refusal"><div class="rag-refusal-title">Not answered by the articles</div>'
        f"<div>{_text(answer.text)}</div>{note_html}</div>"
    )


def card_html(c: Citation) -> str:
    """One citation: [n], outlet, date, title (linked to the original when the URL is safe), the quote."""
    url = safe_url(c.url)
    title = _text(c.title or "(untitled)")
    if url:
        title = f'<a href="{url}" target="_blank" rel="noopener noreferrer">{title} ↗</a>'
    return (
        f'<div class="rag-card" data-n="{c.n}">'
        f'<div class="rag-card-head"><span class="rag-n">[{c.n}]</span><span class="rag-outlet">{_text(c.outlet)}'
        f'</span> · <span class="rag-date">{_text(format_date(c.published))}</span></div>'
        f'<div class="rag-card-title">{title}</div>'
        f'<blockquote class="rag-quote">{_text(c.quote)}</blockquote></div>'
    )


def outlet_head_html(group: OutletGroup) -> str:
    n = len(group.citations)
    return f'<div class="rag-outlet-head">{_text(group.outlet)} · {n} passage{"s" if n != 1 else ""}</div>'


def _figure_in_context(quote: str, fig: Figure, width: int = 60) -> str:
    """The figure in bold with up to `width` characters of its quote on each side (all escaped)."""
    a, b = max(0, fig.start - width), min(len(quote), fig.end + width)
    before = ("…" if a > 0 else "") + quote[a : fig.start]
    after = quote[fig.end : b] + ("…" if b < len(quote) else "")
    return f'{_text(before)}<span class="rag-fig">{_text(quote[fig.start : fig.end])}</span>{_text(after)}'


def figures_html(figures: dict[str, list[Figure]], citations: Sequence[Citation]) -> str:
    """A table with one column per outlet listing the figures it reports, each in context with its [n]."""
    quotes = {c.n: c.quote for c in citations}
    heads = "".join(f"<th>{_text(outlet)}</th>" for outlet in figures)
    cells = []
    for figs in figures.values():
        items = "".join(
            f'<div>{_figure_in_context(quotes[f.n], f)} <span class="rag-cite">[{f.n}]</span></div>' for f in figs
        )
        cells.append(f"<td>{items}</td>")
    return (
        '<div class="rag-figures"><div class="rag-outlet-head">Figures reported, by outlet</div>'
        f"<table><tr>{heads}</tr><tr>{''.join(cells)}</tr></table></div>"
    )


def highlight(body: str, spans: Sequence[tuple[int, int, str]]) -> str:
    """`body` escaped, with `<mark class=…>` around each (start, end, css class) span.

    Spans are applied in order of position; one that overlaps an earlier one or falls outside the body is
    skipped. The first span with class `rag-hl` gets the id `rag-hl` so a link can jump to it.
    """
    out: list[str] = []
    pos = 0
    anchored = False
    for start, end, css in sorted(spans):
        if start < pos or end > len(body) or start >= end:
            continue
        anchor = ""
        if css == "rag-hl" and not anchored:
            anchor, anchored = ' id="rag-hl"', True
        out.append(_text(body[pos:start]))
        out.append(f'<mark class="{escape(css, quote=True)}"{anchor}>{_text(body[start:end])}</mark>')
        pos = end
    out.append(_text(body[pos:]))
    return "".join(out)


def locate(body: str, quote: str, start: int, end: int) -> tuple[int, int] | None:
    """Where `quote` is in `body`: at (start, end) if it is still there, else its first occurrence, else None.

    The article may have been updated since the answer was given; then the old offsets can be stale.
    """
    if 0 <= start < end <= len(body) and body[start:end] == quote:
        return start, end
    i = body.find(quote) if quote else -1
    return (i, i + len(quote)) if i >= 0 else None


def article_html(
    outlet: str,
    title: str,
    published: str,
    url: str,
    body: str,
    span: tuple[int, int] | None,
    others: Sequence[tuple[int, int]] = (),
    quoted: bool = True,
) -> str:
    """The full article with the cited span highlighted (and the answer's other quotes from it, lightly).

    `quoted=False`: the article opened for itself (from a timeline or the corpus page), no quote to find.
    """
    link = safe_url(url)
    meta = f"{_text(outlet)} · {_text(format_date(published))}"
    if link:
        meta += f' · <a href="{link}" target="_blank" rel="noopener noreferrer">original ↗</a>'
    spans = [(s, e, "rag-hl-other") for s, e in others if span is None or (s, e) != span]
    if span is not None:
        spans.append((span[0], span[1], "rag-hl"))
        meta += ' · <a href="#rag-hl">jump to the quote ↓</a>'
    elif quoted:
        meta += " · the quoted passage is no longer in this article (it changed since the answer)"
    return (
        f'<div class="rag-article-meta">{meta}</div><h3>{_text(title)}</h3>'
        f'<div class="rag-article">{highlight(body, spans)}</div>'
    )


def answer_as_text(answer: Answer) -> str:
    """Plain text of an answer and its sources, for copying."""
    lines = [answer.text]
    if answer.citations:
        lines += ["", "Sources:"]
        for c in answer.citations:
            lines.append(f"[{c.n}] {c.outlet} — {c.title} ({format_date(c.published)}) {c.url}".rstrip())
            lines.append(f"    “{c.quote}”")
    return "\n".join(lines)


def status_html(status: dict) -> str:
    """The index status table for the sidebar (counts, outlets, build time), escaped."""
    built = str(status.get("built_at", "")).replace("T", " ").replace("+00:00", " UTC")
    rows = [
        ("Articles", str(status.get("articles", 0))),
        ("Chunks", str(status.get("chunks", 0))),
        ("Outlets", str(len(status.get("outlets", {})))),
        ("Last build", built),
    ]
    body = "".join(f"<tr><td>{_text(k)}</td><td><b>{_text(v)}</b></td></tr>" for k, v in rows)
    return f'<table class="rag-status">{body}</table>'


def summary_html(counts: Sequence[tuple[str, int]]) -> str:
    """One line of counts, e.g. 'Added 2 · Updated 0 · Unchanged 1 · Skipped 0'."""
    return '<div class="rag-report"><b>' + " · ".join(f"{_text(k)} {n}" for k, n in counts) + "</b></div>"


def report_html(title: str, items: Sequence[str], bad: bool = False) -> str:
    """A titled list (upload results); items are escaped here."""
    if not items:
        return ""
    cls = ' class="rag-bad"' if bad else ""
    lis = "".join(f"<li>{_text(i)}</li>" for i in items)
    return f'<div class="rag-report"><div{cls}><b>{_text(title)}</b></div><ul>{lis}</ul></div>'
