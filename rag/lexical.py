"""The project's BM25 tokenizer and what each chunk's BM25 document is, shared by every backend.

Both backends (rag/backends/) rank lexically with the same tokens and the same formula (bm25s's default,
"lucene": idf = ln(1 + (N - df + 0.5) / (df + 0.5)), tf part = tf / (tf + k1 (1 - b + b dl / avgdl)),
k1 = 1.5, b = 0.75), so that a question gets the same lexical ranking from FAISS + bm25s files and from
PostgreSQL.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import bm25s
import Stemmer

from rag.types import ArticleRef, Chunk

_STEMMER = Stemmer.Stemmer("english")
logging.getLogger("bm25s").setLevel(logging.WARNING)  # it logs every index build at DEBUG

#: bm25s's defaults (`bm25s.BM25()`), restated for the SQL side.
K1 = 1.5
B = 0.75

#: bm25s's 33 English stop words plus question words, auxiliaries and pronouns: words that carry no topic,
#: so that "What did X say about Y?" is matched on X and Y only.
STOPWORDS = sorted(
    set(bm25s.stopwords.STOPWORDS_EN)
    | set(
        """what which who whom whose when where why how whether did do does doing done has have had having been
    being were am can could would should shall may might must its it's he she him his her hers we us
    our ours you your yours i me my mine them theirs those from about up down out over under again
    also very just than too so any some all both each few more most other own same nor s t don now
    one ones here after before during while since until against between through above below off
    according say says said tell told""".split()
    )
)


def tokenize(texts: Sequence[str]) -> list[list[str]]:
    """BM25 tokens: lower-cased words of 2+ characters, stop words removed, Snowball-stemmed."""
    return bm25s.tokenize(list(texts), stopwords=STOPWORDS, stemmer=_STEMMER, return_ids=False, show_progress=False)


def bm25_document(ref: ArticleRef, chunk: Chunk, with_outlet: bool) -> str:
    """The text BM25 indexes for a chunk: outlet (optional), title, chunk text."""
    prefix = f"{ref.outlet}\n" if with_outlet else ""
    return f"{prefix}{ref.title}\n{chunk.text}"


def idf(df: int, n_docs: int) -> float:
    """bm25s's "lucene" inverse document frequency."""
    return math.log(1 + (n_docs - df + 0.5) / (df + 0.5))
