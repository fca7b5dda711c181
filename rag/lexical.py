"""What each chunk's BM25 document is and the BM25 formula, shared by every backend (tokens: rag.text.tokens).

Both backends (rag/backends/) rank lexically with the same tokens and the same formula (bm25s's default,
"lucene": idf = ln(1 + (N - df + 0.5) / (df + 0.5)), tf part = tf / (tf + k1 (1 - b + b dl / avgdl)),
k1 = 1.5, b = 0.75), so that a question gets the same lexical ranking from FAISS + bm25s files and from
PostgreSQL.
"""

from __future__ import annotations

import math
from typing import Any

from rag.types import ArticleRef, Chunk

#: bm25s's defaults (`bm25s.BM25()`), restated for the SQL side. The tokens are rag.text.tokens.tokenize.
K1 = 1.5
B = 0.75


def bm25_document(ref: ArticleRef, chunk: Chunk, with_outlet: bool) -> str:
    """The text BM25 indexes for a chunk: outlet (optional), title, chunk text."""
    prefix = f"{ref.outlet}\n" if with_outlet else ""
    return f"{prefix}{ref.title}\n{chunk.text}"


def idf(df: int, n_docs: int) -> float:
    """bm25s's "lucene" inverse document frequency."""
    return math.log(1 + (n_docs - df + 0.5) / (df + 0.5))


def term_score(tf: Any, length: Any, idf: float, avgdl: float) -> Any:
    """One term's BM25 score in a document of `length` tokens holding it `tf` times (numbers or numpy arrays)."""
    return idf * tf / (tf + K1 * ((1 - B) + B * length / avgdl))
