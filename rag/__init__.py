"""rag: cited, extractive question answering over a corpus of news articles, offline.

Pipeline: `ingest` (files → Article) → `chunking` (→ Chunk) → `embedding` + `store` (index on disk) →
`retrieval` (→ Hit) → `answer` (→ Answer with Citations). `cli` and `app.py` are thin front ends.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("rag")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0"
