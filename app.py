"""Streamlit chat over the news corpus: ask, read the cited passages, check them in the article, add articles.

Thin by design: answers come from `rag.pipeline.Pipeline`, indexing from `rag.indexer` (through
`rag.ui.uploads`), and all HTML from `rag.ui.render`, which escapes every piece of article or user text.
Run with `make run` (or `streamlit run app.py`; settings come from `RAG_*` environment variables).
"""

from __future__ import annotations

import math
from datetime import date
from typing import Any

import streamlit as st

from rag.config import Settings, get_settings
from rag.pipeline import Pipeline
from rag.status import index_status
from rag.store import IndexProblem, load_index, read_manifest
from rag.ui import answering, chat, render, uploads
from rag.ui.chat import Message
from rag.ui.sources import differing_figures, group_by_outlet

st.set_page_config(page_title="Ask the news", page_icon="📰", layout="wide")

# Bounds of the date filters: wide enough for any news archive (the default is only ±10 years).
DATE_MIN, DATE_MAX = date(1900, 1, 1), date(2100, 12, 31)
# Outlets shown side by side per row of sources; more would make each column too narrow to read.
COLUMNS_PER_ROW = 3


@st.cache_resource(show_spinner=False)
def load_pipeline(settings_json: str) -> Pipeline:
    """One pipeline (index + model) per process and settings; it loads lazily and swaps in new indexes."""
    return Pipeline(Settings.model_validate_json(settings_json))


@st.cache_data(show_spinner=False, max_entries=4)
def index_facts(settings_json: str, generation: str) -> dict[str, Any]:
    """Sidebar status, example questions and date span of one index generation (recomputed when it changes)."""
    settings = Settings.model_validate_json(settings_json)
    articles = list(load_index(settings.index_dir, verify=False).articles.values())
    return {
        "status": index_status(settings),
        "examples": chat.example_questions(articles, settings.example_questions),
        "span": chat.date_span(articles),
    }


def state() -> Any:
    ss = st.session_state
    ss.setdefault("messages", [])
    ss.setdefault("next_id", 0)
    return ss


def next_id() -> int:
    ss = state()
    ss.next_id += 1
    return ss.next_id


def new_chat() -> None:
    state().messages = []


def ask_example(question: str) -> None:
    state().pending = question


# -- answers ------------------------------------------------------------------------------------------------


@st.dialog("View in article", width="large")
def show_article(pipe: Pipeline, msg: Message, n: int) -> None:
    answer = msg.answer
    cited = next(c for c in answer.citations if c.n == n)
    article = pipe.index.articles.get(cited.article_id)
    if article is None:
        st.warning("This article is no longer in the index (it was removed or replaced since the answer).")
        return
    span = render.locate(article.body, cited.quote, cited.start, cited.end)
    others = [
        s
        for c in answer.citations
        if c.article_id == cited.article_id and c.n != n and (s := render.locate(article.body, c.quote, c.start, c.end))
    ]
    a = article
    st.html(render.article_html(a.outlet, a.title, a.published, a.url, a.body, span, others))


def render_sources(pipe: Pipeline, msg: Message) -> None:
    """Citation cards grouped by outlet (side by side when several outlets answer), figures compared."""
    answer = msg.answer
    groups = group_by_outlet(answer.citations)
    outlets = f"{len(groups)} outlet{'s' if len(groups) != 1 else ''}"
    with st.expander(f"Sources · {len(answer.citations)} passages from {outlets}", expanded=True):
        figures = differing_figures(groups)
        if figures:
            st.html(render.figures_html(figures, answer.citations))
        for row_start in range(0, len(groups), COLUMNS_PER_ROW):
            row = groups[row_start : row_start + COLUMNS_PER_ROW]
            for col, group in zip(st.columns(len(row)), row, strict=True):
                with col:
                    if len(groups) > 1:
                        st.html(render.outlet_head_html(group))
                    for c in group.citations:
                        st.html(render.card_html(c))
                        if st.button("View in article", key=f"view-{msg.id}-{c.n}", icon=":material/article:"):
                            show_article(pipe, msg, c.n)


def render_answer(pipe: Pipeline, msg: Message) -> None:
    """Everything shown for one answer: why a configured language model was not used, the answer, what was
    searched (and which model wrote it), the copy box and the citation cards."""
    answer = msg.answer
    if answer.refused:
        filtered = bool(answer.filters.get("outlets") or answer.filters.get("since") or answer.filters.get("until"))
        st.html(render.refusal_html(answer, filtered))
        st.html(render.search_html(answer))
        return
    alerts, notes = answering.split_warnings(answer, pipe.answerer)
    for alert in alerts:  # the language model failed: say why above the quoted-passage answer shown instead
        st.warning(render.md_escape(alert), icon=":material/warning:")
    st.html(render.answer_html(answer))
    st.html(render.search_html(answer))
    for note in notes:
        st.html(render.note_html(note))
    with st.popover("Copy answer", icon=":material/content_copy:"):
        st.caption("Use the copy icon at the top right of the box.")
        st.code(render.answer_as_text(answer), language=None, wrap_lines=True)
    render_sources(pipe, msg)


def render_message(pipe: Pipeline, msg: Message) -> None:
    with st.chat_message(msg.role):
        if msg.answer is None:
            st.text(msg.text)
        else:
            render_answer(pipe, msg)


def answer_question(pipe: Pipeline, question: str, filters: dict[str, Any]) -> None:
    messages = state().messages
    history = chat.history_turns(messages)
    user = Message("user", question, id=next_id())
    messages.append(user)
    render_message(pipe, user)
    with st.chat_message("assistant"):
        draft = st.empty()  # a language model's words as they come, replaced by the checked answer
        try:
            stream = pipe.ask_stream(question, history, **filters)
            waiting = st.spinner(answering.waiting_text(pipe.answerer))
            answer = answering.collect(stream, lambda text: draft.html(render.draft_html(text)), waiting)
        except IndexProblem as exc:
            st.error(render.md_escape(str(exc)))
            return
        except Exception as exc:  # noqa: BLE001 - a chat must report a failure, not show a stack trace
            st.error(render.md_escape(f"Something went wrong while answering ({type(exc).__name__}: {exc})."))
            return
        finally:
            draft.empty()
        msg = Message("assistant", answer.text, answer, id=next_id())
        messages.append(msg)
        render_answer(pipe, msg)


# -- sidebar ------------------------------------------------------------------------------------------------


def sidebar_filters(facts: dict[str, Any] | None) -> dict[str, Any]:
    st.subheader("Filters")
    outlets = sorted(facts["status"]["outlets"]) if facts else []
    chosen = st.multiselect("Outlets", outlets, key="f_outlets", placeholder="All outlets")
    c1, c2 = st.columns(2)
    since = c1.date_input("From", value=None, min_value=DATE_MIN, max_value=DATE_MAX, key="f_since")
    until = c2.date_input("Until", value=None, min_value=DATE_MIN, max_value=DATE_MAX, key="f_until")
    since_iso, until_iso, error = chat.date_range(since, until)
    if error:
        st.warning(render.md_escape(error))
    if facts and facts["span"]:
        first, last = facts["span"]
        st.caption(f"Articles are dated {render.md_escape(first)} to {render.md_escape(last)}.")
    return {"outlets": chosen, "since": since_iso, "until": until_iso}


def sidebar_status(facts: dict[str, Any] | None, settings: Settings) -> None:
    st.html(render.note_html(answering.answerer_label(settings.llm)))
    st.subheader("Index")
    if facts is None:
        st.caption(f"No usable index in {render.md_escape(str(settings.index_dir))}.")
        return
    status = facts["status"]
    st.html(render.status_html(status))
    with st.expander(f"Outlets ({len(status['outlets'])})"):
        st.html(render.report_html("Articles per outlet", [f"{o}: {n}" for o, n in status["outlets"].items()]))


def run_upload(pipe: Pipeline, settings: Settings, items: list[tuple[str, bytes]]) -> None:
    bar = st.progress(0.0, text="Saving and reading the files…")

    def progress(stage: str, done: int, total: int) -> None:
        bar.progress(done / total if total else 1.0, text=f"Embedding new passages: {done} of {total}")

    with st.spinner("Indexing…"):
        report = uploads.add_articles(settings, items, progress)
    bar.empty()
    if report.changed_index:
        try:
            pipe.refresh()  # answer from the new index from the next question on, without a restart
        except IndexProblem as exc:
            report.error = str(exc)
    state().upload_report = report
    st.rerun()  # redraw the status and filters from the new index


def show_upload_report(report: uploads.UploadReport) -> None:
    if report.error:
        st.error(render.md_escape(report.error))
    if report.articles:
        st.html(render.summary_html(report.counts()))
    if body := "".join(render.report_html(title, items, bad) for title, items, bad in report.sections()):
        st.html(body)


def sidebar_add_articles(pipe: Pipeline, settings: Settings) -> None:
    st.subheader("Add articles")
    exts = [e.lstrip(".") for e in uploads.ALLOWED_EXTENSIONS]
    upload_tab, paste_tab = st.tabs(["Upload files", "Paste text"])
    with upload_tab, st.form("upload", clear_on_submit=True):
        files = st.file_uploader(
            f"Articles ({', '.join(exts)}; up to {settings.max_upload_mb:g} MB each)",
            accept_multiple_files=True,  # no `type=`: our own allow-list reports each refused file by name
            max_upload_size=max(1, math.ceil(settings.max_upload_mb)),
            key="upload_files",
        )
        upload_clicked = st.form_submit_button("Add and index", icon=":material/upload:")
    with paste_tab, st.form("paste"):
        outlet = st.text_input("Outlet", key="paste_outlet")
        title = st.text_input("Title", key="paste_title")
        published = st.date_input("Published", value=None, min_value=DATE_MIN, max_value=DATE_MAX, key="paste_date")
        url = st.text_input("Link to the original (optional)", key="paste_url")
        text = st.text_area("Article text", height=160, key="paste_text")
        paste_clicked = st.form_submit_button("Add and index", icon=":material/post_add:")
    if upload_clicked:
        if files:
            run_upload(pipe, settings, [(f.name, f.getvalue()) for f in files])
        else:
            st.warning("Choose one or more files first.")
    if paste_clicked:
        name, data, error = uploads.pasted_file(outlet, title, published, url, text)
        if error:
            st.warning(render.md_escape(error.capitalize()))
        else:
            run_upload(pipe, settings, [(name, data)])
    if report := state().get("upload_report"):
        with st.container(border=True):
            show_upload_report(report)


# -- page ---------------------------------------------------------------------------------------------------


def main() -> None:
    settings = get_settings()
    key = settings.model_dump_json()
    pipe = load_pipeline(key)
    ss = state()
    st.html(render.STYLE)
    problem = ""
    facts: dict[str, Any] | None = None
    try:
        pipe.refresh()  # a new generation written by `rag index` or another session is picked up here
        facts = index_facts(key, str(read_manifest(settings.index_dir)["generation"]))
    except IndexProblem as exc:
        problem = str(exc)

    with st.sidebar:
        st.button("New chat", key="new_chat", on_click=new_chat, icon=":material/add_comment:", width="stretch")
        filters = sidebar_filters(facts)
        sidebar_status(facts, settings)
        sidebar_add_articles(pipe, settings)

    st.title("Ask the news")
    st.caption(render.md_escape(answering.intro(settings.llm)))
    if problem:
        st.error(
            render.md_escape(f"The index cannot be used: {problem}.")
            + "\n\nTo fix it, build the index from a terminal with `make index` (or "
            "`rag index --corpus <folder>`), or add articles with **Add articles** in the sidebar."
        )
    # The input is pinned to the bottom wherever it is called; read it first so the empty screen knows.
    typed = st.chat_input("Ask about the news in the articles", disabled=facts is None)
    question = typed or ss.pop("pending", None)
    if not ss.messages and not question and facts:
        st.markdown("**Try one of these:**")
        for i, example in enumerate(facts["examples"]):
            st.button(render.md_escape(example), key=f"example-{i}", on_click=ask_example, args=(example,))
    for msg in ss.messages:
        render_message(pipe, msg)

    if question and facts:
        answer_question(pipe, question, filters)
    elif facts:
        try:
            with st.spinner("Loading the search model…"):
                # Warm the model and index once per process, after the page is drawn. Assigned, not a bare
                # expression: Streamlit's magic would render the Retriever object on the page.
                _ = pipe.retriever
        except IndexProblem as exc:
            st.error(render.md_escape(str(exc)))


main()
