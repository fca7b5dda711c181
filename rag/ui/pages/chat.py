"""The chat page: ask, read the cited answer and its sources on a timeline, check quotes in the article, add
articles; conversations are stored (`rag.conversations`), listed in the sidebar, reopened and exported.

A conversation's id is kept in the page URL (`?c=…`), so a browser reload, or a reload after a server
restart, reopens it from the store.
"""

from __future__ import annotations

import math
from datetime import date
from typing import Any

import streamlit as st

from rag.config import Settings
from rag.conversations import ConversationStore, StoredMessage
from rag.pipeline import Pipeline
from rag.store import IndexProblem
from rag.types import Answer
from rag.ui import answering, chat, export, render, timeline, uploads
from rag.ui.chat import Message
from rag.ui.pages import shared
from rag.ui.sources import differing_figures, group_by_outlet

# Bounds of the date filters: wide enough for any news archive (the default is only ±10 years).
DATE_MIN, DATE_MAX = date(1900, 1, 1), date(2100, 12, 31)
# Outlets shown side by side per row of sources; more would make each column too narrow to read.
COLUMNS_PER_ROW = 3
#: Conversations listed in the sidebar (the most recent ones).
LISTED_CONVERSATIONS = 15


def state() -> Any:
    ss = st.session_state
    ss.setdefault("messages", [])
    ss.setdefault("next_id", 0)
    ss.setdefault("conversation_id", None)
    return ss


def next_id() -> int:
    ss = state()
    ss.next_id += 1
    return ss.next_id


def store(settings: Settings) -> ConversationStore:
    return ConversationStore(settings.conversations_path)


def new_chat() -> None:
    ss = state()
    ss.messages = []
    ss.conversation_id = None
    st.query_params.pop("c", None)


def open_conversation(settings: Settings, cid: str) -> None:
    """Show stored conversation `cid` (from the sidebar, or from the URL after a reload)."""
    ss = state()
    stored = store(settings).load(cid)
    if not stored:
        new_chat()
        return
    ss.messages = [Message(m.role, m.text, m.answer, id=next_id()) for m in stored]
    ss.conversation_id = cid
    st.query_params["c"] = cid


def delete_conversation(settings: Settings, cid: str) -> None:
    store(settings).delete(cid)
    if state().conversation_id == cid:
        new_chat()


def ask_example(question: str) -> None:
    state().pending = question


def save(settings: Settings, msg: Message) -> None:
    """Append `msg` to the stored conversation, starting one at its first question."""
    ss = state()
    try:
        if ss.conversation_id is None:
            ss.conversation_id = store(settings).create(msg.text)
            st.query_params["c"] = ss.conversation_id
        store(settings).append(ss.conversation_id, msg.role, msg.text, msg.answer)
    except Exception as exc:  # noqa: BLE001 - a full disk or a locked file costs the history, never the answer
        st.caption(render.md_escape(f"(This conversation could not be saved: {type(exc).__name__}: {exc}.)"))


# -- answers ------------------------------------------------------------------------------------------------


def render_sources(pipe: Pipeline, msg_id: int, answer: Answer) -> None:
    """Citation cards grouped by outlet (side by side when several outlets answer), figures compared."""
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
                        if st.button("View in article", key=f"view-{msg_id}-{c.n}", icon=":material/article:"):
                            shared.article_dialog(pipe, c.article_id, answer.citations, c.n)


def clickable_chart(pipe: Pipeline, chart: Any, key: str, citations: list | None = None) -> None:
    """Draw an Altair timeline; a click on a point opens its article (once per click, not on every rerun)."""
    event = st.altair_chart(chart, on_select="rerun", selection_mode=timeline.SELECTION, key=key, width="stretch")
    picked = timeline.clicked_article(event)
    opened = st.session_state.setdefault("opened_from_chart", {})
    if picked and opened.get(key) != picked:
        opened[key] = picked
        shared.article_dialog(pipe, picked, citations or [])
    elif not picked:
        opened.pop(key, None)


def render_timeline(pipe: Pipeline, msg_id: int, answer: Answer) -> None:
    """The answer's cited articles on a date axis by outlet (click a point to open the article)."""
    rows = timeline.source_rows(answer.citations)
    if not rows:
        return
    if timeline.undated(rows) == len(rows):
        st.caption("The sources are undated, so they cannot be placed on a timeline.")
        return
    with st.container(key=f"timeline-box-{msg_id}"):
        clickable_chart(pipe, timeline.sources_chart(answer.citations), f"timeline-{msg_id}", answer.citations)
    if n := timeline.undated(rows):
        st.caption(f"{n} undated source{'s' if n != 1 else ''} not on the timeline.")


def render_answer(pipe: Pipeline, msg_id: int, answer: Answer) -> None:
    """Everything shown for one answer (of message `msg_id`): why a configured language model was not used, the
    answer, what was searched (and which model wrote it), the copy box, the timeline and the citation cards."""
    if answer.refused:
        st.html(render.refusal_html(answer, render.user_filtered(answer)))
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
    render_timeline(pipe, msg_id, answer)
    render_sources(pipe, msg_id, answer)


def render_message(pipe: Pipeline, msg: Message) -> None:
    with st.chat_message(msg.role):
        if msg.answer is None:
            st.text(msg.text)
        else:
            render_answer(pipe, msg.id, msg.answer)


def answer_question(pipe: Pipeline, settings: Settings, question: str, filters: dict[str, Any]) -> None:
    messages = state().messages
    history = chat.history_turns(messages)
    user = Message("user", question, id=next_id())
    messages.append(user)
    save(settings, user)
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
        save(settings, msg)
        render_answer(pipe, msg.id, answer)


def export_buttons(settings: Settings) -> None:
    """Download the open conversation as Markdown (answers and numbered sources) or as JSON."""
    ss = state()
    if not ss.messages:
        return
    info = store(settings).get(ss.conversation_id) if ss.conversation_id else None
    title = info.title if info else chat_title(ss.messages)
    stored = [StoredMessage(m.role, m.text, m.answer) for m in ss.messages]
    stem = export.file_stem(title)
    row = st.container(horizontal=True, key="export_row")
    row.download_button(
        "Export Markdown",
        export.conversation_markdown(title, stored),
        file_name=f"{stem}.md",
        mime="text/markdown",
        key="export_md",
        icon=":material/download:",
        on_click="ignore",
    )
    row.download_button(
        "Export JSON",
        export.conversation_json(ss.conversation_id or "chat", stored),
        file_name=f"{stem}.json",
        mime="application/json",
        key="export_json",
        icon=":material/data_object:",
        on_click="ignore",
    )


def chat_title(messages: list[Message]) -> str:
    first = next((m.text for m in messages if m.role == "user"), "")
    return first or "Conversation"


# -- sidebar ------------------------------------------------------------------------------------------------


def sidebar_conversations(settings: Settings) -> None:
    try:
        listed = store(settings).list()[:LISTED_CONVERSATIONS]
    except Exception as exc:  # noqa: BLE001 - an unreadable history file must not take the chat down
        st.caption(render.md_escape(f"Saved conversations cannot be read ({type(exc).__name__}: {exc})."))
        return
    if not listed:
        return
    st.subheader("Conversations")
    current = state().conversation_id
    for info in listed:
        c1, c2 = st.columns([5, 1], vertical_alignment="center")
        label = ("▸ " if info.id == current else "") + info.title
        c1.button(
            render.md_escape(label),
            key=f"open-{info.id}",
            on_click=open_conversation,
            args=(settings, info.id),
            type="tertiary",
            help=f"{info.messages} messages · last {info.updated_at.replace('T', ' ').replace('+00:00', ' UTC')}",
        )
        c2.button(
            "",
            key=f"delete-{info.id}",
            icon=":material/delete:",
            on_click=delete_conversation,
            args=(settings, info.id),
            help="Delete this conversation",
            type="tertiary",
        )


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


def sidebar_status(pipe: Pipeline, facts: dict[str, Any] | None, settings: Settings) -> None:
    st.html(render.note_html(answering.answerer_label(pipe.answerer)))
    st.subheader("Index")
    if facts is None:
        st.caption(f"No usable index in {render.md_escape(str(settings.index_dir))}.")
        return
    status = facts["status"]
    st.html(render.status_html(status))
    if error := shared.watcher_error(settings):
        st.warning(render.md_escape(f"The corpus is not watched: {error}."))
    elif settings.watch:
        st.caption(f"Watching {render.md_escape(str(settings.corpus_dir))} for new, changed or removed files.")
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


def page() -> None:
    settings, key, pipe = shared.settings_and_pipeline()
    ss = state()
    st.html(render.STYLE)
    facts, problem = shared.current_facts(key, settings, pipe)
    shared.note_index_change(facts)
    wanted = st.query_params.get("c")
    if wanted and wanted != ss.conversation_id:
        open_conversation(settings, wanted)  # a reload (or a restart) reopens the conversation in the URL

    with st.sidebar:
        st.button("New chat", key="new_chat", on_click=new_chat, icon=":material/add_comment:", width="stretch")
        sidebar_conversations(settings)
        filters = sidebar_filters(facts)
        sidebar_status(pipe, facts, settings)
        sidebar_add_articles(pipe, settings)

    st.title("Ask the news")
    st.caption(render.md_escape(answering.intro(pipe.answerer)))
    shared.show_index_note()
    shared.index_poll(settings)
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
    export_slot = st.container()
    for msg in ss.messages:
        render_message(pipe, msg)

    if question and facts:
        answer_question(pipe, settings, question, filters)
    elif facts:
        try:
            with st.spinner("Loading the search model…"):
                # Warm the model and index once per process, after the page is drawn. Assigned, not a bare
                # expression: Streamlit's magic would render the Retriever object on the page.
                _ = pipe.retriever
        except IndexProblem as exc:
            st.error(render.md_escape(str(exc)))
    with export_slot:
        export_buttons(settings)
