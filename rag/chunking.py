"""Sentence-aware chunks with exact character spans into the article body.

Sentences are packed greedily into chunks of at most `size` characters; each new chunk starts with the last
sentences of the previous one, up to `overlap` characters, so a fact that straddles a boundary is whole in
at least one chunk. A single sentence longer than `size` is cut at word boundaries. Because chunks are
built from sentence spans (not re-found by searching the text, as LangChain's splitters do with
`add_start_index`), `body[chunk.start:chunk.end] == chunk.text` holds even when passages repeat.
"""

from __future__ import annotations

from rag.text.sentences import sentence_spans
from rag.types import Article, Chunk


def _split_long(body: str, start: int, end: int, size: int) -> list[tuple[int, int]]:
    """Cut one over-long sentence at the last space before each `size` boundary."""
    pieces: list[tuple[int, int]] = []
    while end - start > size:
        cut = body.rfind(" ", start + 1, start + size)
        cut = cut if cut > start else start + size
        pieces.append((start, cut))
        start = cut
        while start < end and body[start].isspace():
            start += 1
    if end > start:
        pieces.append((start, end))
    return pieces


def chunk_spans(body: str, size: int = 1000, overlap: int = 200) -> list[tuple[int, int]]:
    """(start, end) spans of the chunks of `body`."""
    units: list[tuple[int, int]] = []
    for s, e in sentence_spans(body):
        units.extend(_split_long(body, s, e, size) if e - s > size else [(s, e)])
    chunks: list[tuple[int, int]] = []
    i = 0
    while i < len(units):
        start = units[i][0]
        j = i
        while j + 1 < len(units) and units[j + 1][1] - start <= size:
            j += 1
        chunks.append((start, units[j][1]))
        if j + 1 >= len(units):
            break
        # Step back over trailing sentences that fit in the overlap, but always advance by one unit, and
        # only as far as still leaves room for the next unit: otherwise the next chunk would hold nothing
        # new (a subset of this one) and the text would be re-chunked one sentence at a time.
        k = j + 1
        while k - 1 > i and units[j][1] - units[k - 1][0] <= overlap and units[j + 1][1] - units[k - 1][0] <= size:
            k -= 1
        i = k
    return chunks


#: Very short fragments ("He said.") are never quoted alone, so they get no vector of their own either.
MIN_SENTENCE_CHARS = 25


def chunk_sentences(chunk: Chunk) -> list[tuple[int, int]]:
    """The sentences of a chunk that may be quoted, as spans into the article body, in order.

    The indexer gives each a vector (pooled inside the chunk, `Embedder.encode_spans`) and the answerer
    reads the same spans, so the two agree on what a sentence is.
    """
    return [(s, e) for s, e in sentence_spans(chunk.text, offset=chunk.start) if e - s >= MIN_SENTENCE_CHARS]


def next_sentence(body: str, end: int, spans: list[tuple[int, int]] | None = None) -> tuple[int, int] | None:
    """The span of the quotable sentence right after position `end` of `body` (sentences as `chunk_sentences`
    counts them), or None at the article's end or when the next one is a fragment. A passage stops at a chunk
    boundary, but the statement a quote makes may not: "The pause in attacks, he said, was evidence of the
    strategy's success." ends a seed passage, and "But that break notably came as the US surged assets to the
    Middle East." opens the next. `spans`: `sentence_spans(body)`, when the caller has them already."""
    for s, e in sentence_spans(body) if spans is None else spans:
        if s >= end:
            return (s, e) if e - s >= MIN_SENTENCE_CHARS else None
    return None


def previous_sentence(body: str, start: int, spans: list[tuple[int, int]] | None = None) -> tuple[int, int] | None:
    """The span of the quotable sentence right before position `start` of `body` (as `next_sentence`), or None:
    "It provides the bulk of the education…" opens a passage whose subject, UNRWA, the sentence before names."""
    before = [(s, e) for s, e in (sentence_spans(body) if spans is None else spans) if e <= start]
    if not before:
        return None
    s, e = before[-1]
    return (s, e) if e - s >= MIN_SENTENCE_CHARS else None


def chunk_article(article: Article, size: int = 1000, overlap: int = 200) -> list[Chunk]:
    """The chunks of one article, in order."""
    return [
        Chunk(article_id=article.id, start=s, end=e, text=article.body[s:e])
        for s, e in chunk_spans(article.body, size, overlap)
    ]
