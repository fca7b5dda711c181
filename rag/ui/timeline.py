"""The story on a timeline: Altair (Vega-Lite) charts of an answer's sources and of the corpus, by outlet.

Pure functions: rows from citations or articles, and charts from rows. One point per article (an answer
citing an article three times draws it once, labelled with all its `[n]`), placed on its publication date
and its outlet's row. Every point carries the article id in the `article_id` field, and each chart has a
point selection named `SELECTION` over that field, so the app (`st.altair_chart(on_select="rerun")`) can
open the article that was clicked. Undated articles cannot be placed and are counted instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, timedelta
from typing import Any, TypeAlias

import altair as alt
import pandas as pd

from rag.types import Article, Citation

#: The name of the point selection in every chart (the key of the clicked point in Streamlit's event).
SELECTION = "pick"
#: What the charts are: the points alone, or layered with their labels (`alt.layer` is typed to return a
#: FacetChart too, when the layers share a facet encoding, which these never do).
TimelineChart: TypeAlias = alt.Chart | alt.LayerChart | alt.FacetChart


def plot_date(published: str) -> str | None:
    """An ISO day for the axis ('2026-03' → '2026-03-01'), or None when the date is unknown or invalid."""
    p = (published or "").strip()
    try:
        if len(p) >= 10:
            return date.fromisoformat(p[:10]).isoformat()
        if len(p) == 7:
            return date.fromisoformat(p + "-01").isoformat()
    except ValueError:
        return None
    return None


def source_rows(citations: Sequence[Citation]) -> list[dict[str, Any]]:
    """One row per cited article, in order of first citation: its date, outlet, title and `[n]` labels."""
    rows: dict[str, dict[str, Any]] = {}
    for c in citations:
        row = rows.get(c.article_id)
        if row is None:
            rows[c.article_id] = row = {
                "article_id": c.article_id,
                "outlet": c.outlet,
                "title": c.title,
                "published": c.published,
                "date": plot_date(c.published),
                "ns": [],
            }
        row["ns"].append(c.n)
    for row in rows.values():
        row["cited"] = " ".join(f"[{n}]" for n in row.pop("ns"))
    return list(rows.values())


def article_rows(articles: Iterable[Article]) -> list[dict[str, Any]]:
    """One row per article of the corpus, oldest first."""
    rows = [
        {
            "article_id": a.id,
            "outlet": a.outlet,
            "title": a.title,
            "published": a.published,
            "date": plot_date(a.published),
        }
        for a in articles
    ]
    return sorted(rows, key=lambda r: (r["date"] or "", r["outlet"], r["title"]))


def undated(rows: Sequence[dict[str, Any]]) -> int:
    return sum(1 for r in rows if r["date"] is None)


def _x_axis(dates: Sequence[str]) -> alt.X:
    """A day axis padded by a day each side; day ticks for a short story, month ticks for a long one."""
    days = sorted(date.fromisoformat(d) for d in dates)
    first, last = days[0] - timedelta(days=1), days[-1] + timedelta(days=1)
    span = (last - first).days
    if span <= 45:
        ticks: Any = {"interval": "day", "step": max(1, span // 8)}
        fmt = "%-d %b %Y" if span <= 8 else "%-d %b"
    else:
        ticks, fmt = {"interval": "month", "step": max(1, span // 240)}, "%b %Y"
    return alt.X(
        "date:T",
        title="Published",
        scale=alt.Scale(domain=[first.isoformat(), last.isoformat()]),
        axis=alt.Axis(format=fmt, labelAngle=0, tickCount=ticks, grid=True, labelOverlap=True),
    )


def _points(
    rows: Sequence[dict[str, Any]],
    tooltip: list[alt.Tooltip],
    title: str,
    size: int,
    label: str | None = None,
    row_px: int = 40,
) -> TimelineChart:
    dated = [r for r in rows if r["date"] is not None]
    outlets = sorted({r["outlet"] for r in dated})
    columns = list(rows[0].keys()) if rows else ["article_id", "outlet", "date"]
    frame = pd.DataFrame(dated, columns=columns)
    pick = alt.selection_point(name=SELECTION, fields=["article_id"], on="click")
    y = alt.Y("outlet:N", title=None, sort=outlets, axis=alt.Axis(labelLimit=220, labelFontSize=12))
    base = alt.Chart(frame, title=alt.Title(title, anchor="start", fontSize=14))
    x = _x_axis([r["date"] for r in dated]) if dated else alt.X("date:T")
    points = (
        base.mark_circle(size=size, opacity=0.9, stroke="white", strokeWidth=1.5, cursor="pointer")
        .encode(x=x, y=y, color=alt.Color("outlet:N", legend=None), tooltip=tooltip)
        .add_params(pick)
    )
    chart: TimelineChart = points
    if label:
        text = base.mark_text(align="left", dx=11, fontSize=12, fontWeight="bold", color="#1a5fb4").encode(
            x=x, y=y, text=f"{label}:N"
        )
        chart = alt.layer(points, text)
    # One band of `row_px` per outlet (a fixed pixel height is squeezed by Streamlit's layout); SVG, so each
    # point is an element a browser (and a test) can find and click.
    return chart.properties(height=alt.Step(row_px), usermeta={"embedOptions": {"renderer": "svg"}})


def sources_chart(citations: Sequence[Citation]) -> TimelineChart:
    """An answer's cited articles on a date axis, one row per outlet; click a point to open the article."""
    rows = source_rows(citations)
    tooltip = [
        alt.Tooltip("cited:N", title="Cited"),
        alt.Tooltip("outlet:N", title="Outlet"),
        alt.Tooltip("title:N", title="Title"),
        alt.Tooltip("published:N", title="Published"),
    ]
    return _points(rows, tooltip, "The sources on a timeline (click a point to open the article)", 260, "cited")


def corpus_chart(articles: Iterable[Article]) -> TimelineChart:
    """Every article of the corpus on a date axis, one row per outlet: how each outlet covered the story."""
    rows = article_rows(articles)
    tooltip = [
        alt.Tooltip("outlet:N", title="Outlet"),
        alt.Tooltip("title:N", title="Title"),
        alt.Tooltip("published:N", title="Published"),
    ]
    return _points(rows, tooltip, "Articles per outlet over time (click a point to open the article)", 140, row_px=32)


def marks(chart: TimelineChart) -> list[dict[str, Any]]:
    """The data rows a chart draws, one per mark (for tests and for checking what a click can return)."""
    spec = chart.to_dict()
    datasets = spec.get("datasets", {})
    name = spec.get("data", {}).get("name")
    return list(datasets.get(name, spec.get("data", {}).get("values", [])))


def clicked_article(event: Any) -> str | None:
    """The article id of the point clicked in a chart, from Streamlit's selection event (None if none)."""
    try:
        picked = event["selection"][SELECTION]
    except (KeyError, TypeError):
        return None
    if isinstance(picked, dict):  # older Streamlit: {"article_id": [...]} or {"vlPoint": …}
        values = picked.get("article_id")
        if isinstance(values, list) and values:
            return str(values[0])
        return str(values) if values else None
    if isinstance(picked, list) and picked and isinstance(picked[0], dict) and picked[0].get("article_id"):
        return str(picked[0]["article_id"])
    return None
