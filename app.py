"""Streamlit app over the news corpus: the chat (ask, read cited passages, check them in the article, add
articles, stored conversations) and the corpus page (the indexed articles, removable, on a timeline).

Thin by design: the pages live in `rag.ui.pages`, answers come from `rag.pipeline.Pipeline`, indexing from
`rag.indexer` (uploads, removals and the optional watcher, `RAG_WATCH=true`), and all HTML from
`rag.ui.render`, which escapes every piece of article or user text.
Run with `make run` (or `streamlit run app.py`; settings come from `RAG_*` environment variables).
"""

from __future__ import annotations

import streamlit as st

from rag.ui.pages import chat, corpus

st.set_page_config(page_title="Ask the news", page_icon="📰", layout="wide")

st.navigation(
    [
        st.Page(chat.page, title="Chat", icon=":material/forum:", url_path="chat", default=True),
        st.Page(corpus.page, title="Corpus", icon=":material/library_books:", url_path="corpus"),
    ]
).run()
