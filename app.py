"""Streamlit chat over the news corpus (thin: every decision is made in the `rag` package)."""

from __future__ import annotations

import streamlit as st

from rag.config import get_settings
from rag.pipeline import Pipeline

st.set_page_config(page_title="News Q&A", page_icon="📰")


@st.cache_resource
def pipeline() -> Pipeline:
    return Pipeline(get_settings())


st.title("Ask the news")
if "messages" not in st.session_state:
    st.session_state.messages = []
for msg in st.session_state.messages:
    with st.chat_message(msg["role"]):
        st.text(msg["content"])
if question := st.chat_input("Ask about the news in the corpus"):
    st.session_state.messages.append({"role": "user", "content": question})
    with st.chat_message("user"):
        st.text(question)
    answer = pipeline().ask(question)
    with st.chat_message("assistant"):
        st.text(answer.text)
        for c in answer.citations:
            st.caption(f"[{c.n}] {c.outlet} — {c.title} ({c.published}) {c.url}")
    st.session_state.messages.append({"role": "assistant", "content": answer.text})
