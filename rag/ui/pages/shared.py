"""What both pages share: the pipeline, per-generation facts, the watcher, the article dialog, index notices."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from html import escape
from typing import Any

import streamlit as st

from rag.config import Settings, get_settings
from rag.pipeline import Pipeline
from rag.status import index_status
from rag.store import IndexProblem, load_index, read_manifest
from rag.types import Citation
from rag.ui import chat, render
from rag.watch import CorpusWatcher


@st.cache_resource(show_spinner=False)
def load_pipeline(settings_json: str) -> Pipeline:
    """One pipeline (index + model) per process and settings; it loads lazily and swaps in new indexes."""
    return Pipeline(Settings.model_validate_json(settings_json))


@st.cache_data(show_spinner=False, max_entries=4)
def index_facts(settings_json: str, generation: str) -> dict[str, Any]:
    """Sidebar status, example questions, date span and article hashes of one index generation."""
    settings = Settings.model_validate_json(settings_json)
    index = load_index(settings.index_dir, verify=False)
    articles = list(index.articles.values())
    return {
        "generation": generation,
        "status": index_status(settings),
        "examples": chat.example_questions(articles, settings.example_questions),
        "span": chat.date_span(articles),
        "hashes": dict(index.hashes),
    }


@st.cache_resource(show_spinner=False)
def start_watcher(settings_json: str) -> CorpusWatcher:
    """The corpus watcher, once per server process (`RAG_WATCH=true`): `rag index --watch` beside the app."""
    watcher = CorpusWatcher(
        Settings.model_validate_json(settings_json), on_update=lambda u: print(u.line(), file=sys.stderr, flush=True)
    )
    watcher.start()
    return watcher


def settings_and_pipeline() -> tuple[Settings, str, Pipeline]:
    settings = get_settings()
    key = settings.model_dump_json()
    if settings.watch:
        start_watcher(key)
    return settings, key, load_pipeline(key)


def watcher_error(settings: Settings) -> str:
    """Why the app's corpus watcher stopped ('' when it runs, or when none was asked for)."""
    return start_watcher(settings.model_dump_json()).error if settings.watch else ""


def current_facts(key: str, settings: Settings, pipe: Pipeline) -> tuple[dict[str, Any] | None, str]:
    """(facts of the current generation, problem message): picks up a generation written by anyone."""
    try:
        pipe.refresh()  # a new generation written by `rag index`, the watcher or another session
        return index_facts(key, str(read_manifest(settings.index_dir)["generation"])), ""
    except IndexProblem as exc:
        return None, str(exc)


def change_counts(old: dict[str, str], new: dict[str, str]) -> str:
    """'3 articles added · 1 updated · 2 removed' between two {article id: hash} maps ('' when equal)."""
    added = sum(1 for a in new if a not in old)
    removed = sum(1 for a in old if a not in new)
    updated = sum(1 for a, h in new.items() if a in old and old[a] != h)
    parts = []
    if added:
        parts.append(f"{added} article{'s' if added != 1 else ''} added")
    if updated:
        parts.append(f"{updated} article{'s' if updated != 1 else ''} updated")
    if removed:
        parts.append(f"{removed} article{'s' if removed != 1 else ''} removed")
    return " · ".join(parts)


def note_index_change(facts: dict[str, Any] | None) -> bool:
    """Remember the generation this session shows; when it moved, set the 'n articles added' note. True if moved."""
    ss = st.session_state
    if facts is None:
        return False
    if ss.get("seen_generation") is None:
        ss.seen_generation, ss.seen_hashes = facts["generation"], facts["hashes"]
        return False
    if ss.seen_generation == facts["generation"]:
        return False
    counts = change_counts(ss.seen_hashes, facts["hashes"])
    ss.seen_generation, ss.seen_hashes = facts["generation"], facts["hashes"]
    if counts:
        ss.index_note = f"Index updated: {counts}."
        ss.index_note_toast = True
    return True


def index_poll(settings: Settings) -> None:
    """Every `index_poll_seconds`, read the manifest; when the index moved (or first appeared), rerun the whole
    page, whose run refreshes the pipeline and notes what changed (`current_facts`, `note_index_change`)."""

    def poll() -> None:
        ss = st.session_state
        try:
            generation = str(read_manifest(settings.index_dir)["generation"])
        except IndexProblem:
            return
        # Once per new generation, even if the page cannot use it (a broken index must not rerun forever).
        if generation in (ss.get("seen_generation"), ss.get("polled_generation")):
            return
        ss.polled_generation = generation
        st.rerun(scope="app")

    st.fragment(run_every=settings.index_poll_seconds)(poll)()


def show_index_note() -> None:
    ss = st.session_state
    if note := ss.get("index_note"):
        st.html(f'<div class="rag-index-note">{escape(note)}</div>')
        if ss.pop("index_note_toast", False):
            st.toast(note, icon=":material/sync:")


@st.dialog("View in article", width="large")
def article_dialog(pipe: Pipeline, article_id: str, citations: Sequence[Citation] = (), n: int | None = None) -> None:
    """The full article; with citations, the quote `[n]` highlighted and the answer's other quotes lightly."""
    article = pipe.index.articles.get(article_id)
    if article is None:
        st.warning("This article is no longer in the index (it was removed or replaced since the answer).")
        return
    own = [c for c in citations if c.article_id == article_id]
    focus = next((c for c in own if c.n == n), own[0] if own else None)
    span = render.locate(article.body, focus.quote, focus.start, focus.end) if focus else None
    others = [s for c in own if c is not focus and (s := render.locate(article.body, c.quote, c.start, c.end))]
    a = article
    st.html(render.article_html(a.outlet, a.title, a.published, a.url, a.body, span, others, quoted=bool(own)))
