"""The app's Streamlit pages (the only part of `rag.ui` that imports Streamlit).

- `shared`: the one `Pipeline` per process, facts per index generation, the corpus watcher run beside the
  app (`RAG_WATCH`), the article view dialog, and the poll that notices a new index generation.
- `chat`: ask, read the cited answer, its sources on a timeline, stored conversations and their export.
- `corpus`: the indexed articles as a table, on a timeline, removable; the files that could not be indexed.

Each page only lays out widgets; what it shows comes from the pure modules beside it (`render`, `timeline`,
`export`, `corpus`, `uploads`, `chat`) and from `rag.pipeline` / `rag.conversations`.
"""
