"""The corpus page: the indexed articles as a searchable, sortable table and on a timeline by outlet, each
openable in the article view and removable; and the files the last update could not index, with why."""

from __future__ import annotations

from typing import Any

import streamlit as st

from rag.config import Settings
from rag.indexer import read_problems
from rag.pipeline import Pipeline
from rag.store import IndexProblem
from rag.ui import corpus, render, timeline
from rag.ui.pages import shared


def remove(pipe: Pipeline, settings: Settings, article_id: str) -> None:
    with st.spinner("Removing the article and updating the index…"):
        result = corpus.remove_article(settings, pipe.index, article_id)
    if result.ok:
        try:
            pipe.refresh()  # the next answer comes from the index without it
        except IndexProblem as exc:
            result.message += f" (the new index could not be loaded: {exc})"
    st.session_state.corpus_result = (result.ok, result.message)
    st.session_state.pop("corpus_pick", None)
    st.rerun()


def article_picker(pipe: Pipeline, settings: Settings, rows: list[dict[str, Any]]) -> None:
    """The selected (or chosen) article: open it, or move its file out of the corpus."""
    ids = [r["id"] for r in rows]
    titles = {r["id"]: f"{r['outlet']} — {r['title']} ({render.format_date(r['published'])})" for r in rows}
    if st.session_state.get("corpus_pick") not in ids:
        st.session_state.pop("corpus_pick", None)
    pick = st.selectbox(
        "Article", ids, format_func=titles.__getitem__, index=None, key="corpus_pick", placeholder="Choose an article…"
    )
    if pick is None:
        return
    c1, c2, _ = st.columns([1, 1, 3])
    if c1.button("Open article", key="corpus_open", icon=":material/article:"):
        shared.article_dialog(pipe, pick)
    same_file = corpus.siblings(pipe.index, pick)
    with c2.popover("Remove from corpus", icon=":material/delete:"):
        source = next(r["source"] for r in rows if r["id"] == pick)
        st.markdown(
            render.md_escape(f"Move {corpus.source_file(source)} out of the corpus folder")
            + (f" (it holds **{len(same_file)} articles**, all of which leave the index)" if len(same_file) > 1 else "")
            + render.md_escape(f"; it is kept in {settings.index_dir}/{corpus.REMOVED_DIR}/.")
        )
        if st.button("Remove", key="corpus_remove", type="primary"):
            remove(pipe, settings, pick)


def problems_section(settings: Settings) -> None:
    problems = read_problems(settings.index_dir)
    skipped = [p for p in problems if p.skipped]
    warned = [p for p in problems if not p.skipped]
    st.subheader(f"Files that could not be indexed ({len(skipped)})")
    if skipped:
        st.dataframe(
            [{"file": p.source, "why": p.message} for p in skipped], hide_index=True, width="stretch", key="skipped"
        )
    else:
        st.caption("Every file in the corpus folder was indexed at the last update.")
    if warned:
        with st.expander(f"Indexed with a caveat ({len(warned)})"):
            st.dataframe([{"file": p.source, "note": p.message} for p in warned], hide_index=True, width="stretch")


def page() -> None:
    settings, key, pipe = shared.settings_and_pipeline()
    st.html(render.STYLE)
    facts, problem = shared.current_facts(key, settings, pipe)
    shared.note_index_change(facts)
    st.title("Corpus")
    shared.show_index_note()
    shared.index_poll(settings)
    if problem:
        st.error(render.md_escape(f"The index cannot be used: {problem}."))
        problems_section(settings)
        return
    if result := st.session_state.pop("corpus_result", None):
        ok, message = result
        (st.success if ok else st.error)(render.md_escape(message))
    try:
        rows = corpus.article_rows(pipe.index)
    except IndexProblem as exc:
        st.error(render.md_escape(str(exc)))
        return
    outlets = len({r["outlet"] for r in rows})
    st.caption(
        render.md_escape(f"{len(rows)} articles from {outlets} outlets in {settings.corpus_dir}, indexed in ")
        + render.md_escape(f"{settings.index_dir}.")
    )
    if rows:
        with st.container(key="corpus-timeline"):
            event = st.altair_chart(
                timeline.corpus_chart(pipe.index.articles.values()),
                on_select="rerun",
                selection_mode=timeline.SELECTION,
                key="corpus_chart",
                width="stretch",
            )
        picked = timeline.clicked_article(event)
        if picked and st.session_state.get("corpus_chart_opened") != picked:
            st.session_state.corpus_chart_opened = picked
            shared.article_dialog(pipe, picked)
        elif not picked:
            st.session_state.pop("corpus_chart_opened", None)

    query = st.text_input("Search the articles", key="corpus_search", placeholder="outlet, title, date or file")
    shown = corpus.search_rows(rows, query)
    st.caption(f"{len(shown)} of {len(rows)} articles · click a column heading to sort, a row to choose it")
    table = st.dataframe(
        shown,
        hide_index=True,
        width="stretch",
        key="corpus_table",
        on_select="rerun",
        selection_mode="single-row",
        column_order=["outlet", "title", "published", "chunks", "source"],
        column_config={
            "outlet": st.column_config.TextColumn("Outlet"),
            "title": st.column_config.TextColumn("Title", width="large"),
            "published": st.column_config.TextColumn("Date"),
            "chunks": st.column_config.NumberColumn("Chunks"),
            "source": st.column_config.TextColumn("Source file"),
        },
    )
    selected = table.selection.rows if table is not None and hasattr(table, "selection") else []
    if selected and selected[0] < len(shown):
        chosen = shown[selected[0]]["id"]
        if st.session_state.get("corpus_table_chosen") != chosen:
            st.session_state.corpus_table_chosen = chosen
            st.session_state.corpus_pick = chosen  # set before the picker is drawn below
    article_picker(pipe, settings, shown)
    problems_section(settings)
