"""rag.ui.render and rag.ui.sources: escaping, markers, cards, highlight, figures side by side (no model)."""

from __future__ import annotations

import html

import pytest

from rag.types import Answer, Citation
from rag.ui import render
from rag.ui.sources import differing_figures, figures_in, group_by_outlet

HOSTILE = '<script>window.__xss=1</script> <img src=x onerror="alert(1)"> [link](javascript:alert(1)) **bold** $x$'


def cite(n: int, outlet: str = "Dawn", quote: str = "A quote.", url: str = "https://dawn.com/a", **kw) -> Citation:
    fields = {"title": "Title", "published": "2026-03-06", "article_id": url or f"id{n}", "start": 0, "end": len(quote)}
    return Citation(n=n, outlet=outlet, quote=quote, url=url, **(fields | kw))


def answer(text: str, citations: list[Citation], refused: bool = False, **kw) -> Answer:
    return Answer(question="q?", text=text, citations=citations, refused=refused, search_query="q? more", **kw)


def test_answer_markers_become_superscripts_only_for_real_citations() -> None:
    a = answer("Dawn: It rose [1] and [7] is a footnote [2]", [cite(1), cite(2)])
    out = render.answer_html(a)
    assert '<span class="rag-cite">[1]</span>' in out and '<span class="rag-cite">[2]</span>' in out
    assert "[7]" in out and '<span class="rag-cite">[7]' not in out
    assert '<span class="rag-line-outlet">Dawn:</span>' in out


def test_answer_text_is_escaped() -> None:
    out = render.answer_html(answer(f"Dawn: {HOSTILE} [1]", [cite(1)]))
    assert "<script" not in out and "<img" not in out
    assert html.escape(HOSTILE) in out


def test_card_escapes_everything_and_links_only_http_urls() -> None:
    c = cite(3, outlet="<b>Evil</b>", quote=HOSTILE, url="https://ok.example/a?b=1&c=2", title='T"itle<i>')
    out = render.card_html(c)
    assert "<script" not in out and "<img" not in out and "<b>Evil" not in out and "<i>" not in out
    assert html.escape(HOSTILE) in out and "&lt;b&gt;Evil&lt;/b&gt;" in out
    assert 'href="https://ok.example/a?b=1&amp;c=2"' in out
    assert "6 Mar 2026" in out and "[3]" in out


@pytest.mark.parametrize("url", ["javascript:alert(1)", "data:text/html,<b>", "//evil.example", "ftp://x/y", "", "a b"])
def test_unsafe_or_relative_urls_are_not_linked(url: str) -> None:
    assert render.safe_url(url) is None
    assert "<a " not in render.card_html(cite(1, url=url))


def test_refusal_has_no_cards_and_says_why() -> None:
    a = answer("The articles do not answer that.", [], refused=True, warnings=["not mentioned: <GDP>"])
    out = render.refusal_html(a)
    assert "Not answered by the articles" in out and "not mentioned: &lt;GDP&gt;" in out
    assert "rag-card" not in out
    assert "Filters are on" in render.refusal_html(a, filtered=True)


def test_a_refusal_within_outlets_the_question_implied_is_not_blamed_on_filters() -> None:
    # "And what did the other outlets report?": the reader searched the outlets not cited before; no user filter.
    text = "Evrim Ağacı and Truthout do not mention Stephen Miller."
    a = answer(text, [], refused=True, filters={"outlets": ["Evrim Ağacı", "Truthout"], "narrowed": True})
    assert not render.user_filtered(a)
    out = render.refusal_html(a, render.user_filtered(a))
    assert "Filters are on" not in out and "Truthout do not mention Stephen Miller" in out
    assert "narrowed the search to Evrim Ağacı, Truthout" in out
    a.filters["since"] = "2026-01-01"  # a date filter the user did set
    assert render.user_filtered(a) and "Filters are on" in render.refusal_html(a, render.user_filtered(a))


def test_search_line_shows_query_and_filters_escaped() -> None:
    a = answer("x", [], filters={"outlets": ["<A>"], "since": "2026-01-01", "until": None, "notes": ["n<1>"]})
    out = render.search_html(a)
    assert "q? more" in out and "outlets: &lt;A&gt;" in out and "2026-01-01 – …" in out and "n&lt;1&gt;" in out
    assert "written by" not in out
    a.answerer = "ollama:<m>"
    assert "written by ollama:&lt;m&gt;" in render.search_html(a)


def test_highlight_escapes_then_marks_the_span() -> None:
    body = "Before <b>x</b>. The quoted <script>sentence</script>. After & more."
    start = body.index("The quoted")
    end = body.index(". After") + 1
    out = render.highlight(body, [(start, end, "rag-hl")])
    assert out == (
        html.escape(body[:start])
        + f'<mark class="rag-hl" id="rag-hl">{html.escape(body[start:end])}</mark>'
        + html.escape(body[end:])
    )
    assert "<script" not in out and "<b>" not in out


def test_highlight_skips_overlapping_and_out_of_range_spans() -> None:
    out = render.highlight("abcdef", [(0, 3, "rag-hl-other"), (2, 4, "rag-hl"), (5, 99, "rag-hl")])
    assert out == '<mark class="rag-hl-other">abc</mark>def'


def test_locate_falls_back_to_searching_when_offsets_are_stale() -> None:
    body = "New first line. The quote is here."
    assert render.locate(body, "The quote is here.", 0, 18) == (16, 34)
    assert render.locate(body, "The quote is here.", 16, 34) == (16, 34)
    assert render.locate(body, "Gone.", 0, 5) is None


def test_article_view_marks_the_cited_span_and_says_when_it_is_gone() -> None:
    body = "One. <em>Two</em> [x](y). Three."
    out = render.article_html("O", "T<", "2025-09", "javascript:x", body, (5, 25), [(0, 4)])
    assert '<mark class="rag-hl" id="rag-hl">&lt;em&gt;Two&lt;/em&gt; [x](y).</mark>' in out
    assert '<mark class="rag-hl-other">One.</mark>' in out
    assert "Sep 2025" in out and "T&lt;" in out and "javascript" not in out
    assert "no longer in this article" in render.article_html("O", "T", "", "", body, None)


def test_copy_text_lists_answer_and_sources() -> None:
    a = answer("Dawn: It rose. [1]", [cite(1, quote="It rose.")])
    text = render.answer_as_text(a)
    assert text.startswith("Dawn: It rose. [1]") and "[1] Dawn — Title (6 Mar 2026) https://dawn.com/a" in text


@pytest.mark.parametrize(
    ("published", "shown"),
    [("2026-03-06", "6 Mar 2026"), ("2025-09", "Sep 2025"), ("", "date unknown"), ("2025", "2025"), ("x", "x")],
)
def test_format_date(published: str, shown: str) -> None:
    assert render.format_date(published) == shown


def test_md_escape_neutralises_markdown() -> None:
    out = render.md_escape("[a](javascript:1) **b** `c` $d$ :red[e] <f>")
    assert all(f"\\{ch}" in out for ch in "[]()*`$:<>")


def test_group_by_outlet_keeps_the_answer_order() -> None:
    groups = group_by_outlet([cite(1, "B"), cite(2, "A"), cite(3, "B")])
    assert [(g.outlet, [c.n for c in g.citations]) for g in groups] == [("B", [1, 3]), ("A", [2])]


def test_figures_leave_out_years_and_days() -> None:
    quote = "On March 5, 2025, at least 1,200 people (15%) fled; $3.5 million was pledged by 5 March and COVID-19 F-35."
    assert [f.text for f in figures_in(quote)] == ["1,200", "15%", "$3.5 million"]
    assert [f.key for f in figures_in(quote)] == ["1200", "%15", "$3.5e+06"]


def test_differing_figures_only_when_outlets_disagree() -> None:
    same = group_by_outlet([cite(1, "A", "83 people died."), cite(2, "B", "It said 83 died.")])
    assert differing_figures(same) == {}
    one = group_by_outlet([cite(1, "A", "83 people died."), cite(2, "B", "Many died.")])
    assert differing_figures(one) == {}
    differ = group_by_outlet([cite(1, "A", "83 people died."), cite(2, "B", "At least 80 died, 3 missing.")])
    figs = differing_figures(differ)
    assert {o: [f.text for f in fs] for o, fs in figs.items()} == {"A": ["83"], "B": ["80", "3"]}
    table = render.figures_html(figs, [c for g in differ for c in g.citations])
    assert "<th>A</th><th>B</th>" in table and '<span class="rag-fig">80</span>' in table
