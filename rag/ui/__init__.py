"""Pure-Python helpers behind the Streamlit chat (`app.py`), testable without a browser.

- `render`: answers, citation cards, refusals and the article view as safe HTML (every piece of article or
  user text is escaped before any markup is put around it), plus the plain-text copy of an answer.
- `sources`: citations grouped by outlet, and the figures different outlets report side by side.
- `uploads`: saving uploaded or pasted articles into the corpus folder under safe names, then indexing them
  incrementally and reporting what was added, updated or skipped, and why.
- `chat`: conversation history as `Turn`s, date filters, example questions for the empty screen.
- `answering`: a language model's answer streamed as a draft, then the final verified `Answer`; the answerer's
  name, and the fallback reason shown as a warning when a configured model could not be used.

- `timeline`: Altair charts of an answer's sources and of the corpus on a date axis by outlet (clickable).
- `export`: a conversation as Markdown (answers and numbered sources) or JSON (`rag ask --json` objects).
- `corpus`: the corpus page's table rows and search, and removing an article's file from the corpus.

The pages in `rag.ui.pages` (registered by `app.py`) lay out widgets and call these; apart from that
sub-package, nothing here imports Streamlit.
"""
