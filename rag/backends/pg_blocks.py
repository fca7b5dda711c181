"""Each term's postings as a few plain arrays in PostgreSQL (`rag_term_blocks`), summed here with numpy: BM25
without a filter in one read per term instead of a SQL aggregate over every posting.

    rag_term_blocks (term, block, data): the postings of `term` among the chunk ids block · 2^16 … (block + 1) ·
    2^16 − 1, in id order, as three plain arrays after one byte w: the ids' low 16 bits (uint16), the tfs and
    the chunks' BM25 lengths (uint16 when w = 2, uint32 when a value needs it: w = 4); 6 bytes a posting, stored
    uncompressed (EXTERNAL: read without decompressing).

Why: at 1,000,000 chunks about half the unfiltered bench queries (those of two frequent terms) cannot be pruned
by MaxScore, and scoring every posting in SQL costs ~1 µs a posting (360–420 ms for 390,000); the same postings
read as arrays take a few bytes and a vector operation each (docs/scaling.md). The blocks keep an update small:
a change set rewrites only the blocks of its terms that hold one of its chunk ids.

Each chunk's score is computed as the SQL paths compute it (`PostgresBackend._PART`: the part of each term in
float64 in the same order of operations, rounded to float32, then summed in float32 over the query's tokens in
their order), and ranked the same way (score, then chunk id), so every path returns the same rows.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from rag.lexical import K1, B

BLOCK_BITS = 16
TABLE = [
    """CREATE TABLE IF NOT EXISTS rag_term_blocks (
        term text NOT NULL, block bigint NOT NULL, data bytea NOT NULL, PRIMARY KEY (term, block))""",
    "ALTER TABLE rag_term_blocks ALTER COLUMN data SET STORAGE EXTERNAL",
]


class NewPostings:
    """The postings a change set adds, gathered per term while they are written (`add`): the chunk ids and the
    (tf, length) pairs in two flat arrays per term (16 bytes a posting, no Python object each)."""

    def __init__(self) -> None:
        self.ids: dict[str, array] = {}
        self.values: dict[str, array] = {}

    def add(self, term: str, chunk_id: int, tf: int, length: int) -> None:
        ids = self.ids.get(term)
        if ids is None:
            ids = self.ids[term] = array("q")
            self.values[term] = array("I")
        ids.append(chunk_id)
        self.values[term].extend((tf, length))

    def blocks(self) -> dict[tuple[str, int], np.ndarray]:
        """The new postings of each (term, block), as (id, tf, len) int64 rows in id order."""
        out: dict[tuple[str, int], np.ndarray] = {}
        for term, ids in self.ids.items():
            rows = np.empty((len(ids), 3), dtype=np.int64)
            rows[:, 0] = np.frombuffer(ids, dtype=np.int64)
            rows[:, 1:] = np.frombuffer(self.values[term], dtype=np.uint32).reshape(-1, 2)
            rows = rows[np.argsort(rows[:, 0], kind="stable")]
            block = rows[:, 0] >> BLOCK_BITS
            cuts = np.flatnonzero(np.diff(block)) + 1
            for part in np.split(rows, cuts):
                out[(term, int(part[0, 0] >> BLOCK_BITS))] = part
        return out


def _columns(data: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(low 16 bits of the ids, tfs, lengths) of one block's `data`, as views of it (nothing copied)."""
    width = data[0]
    n = (len(data) - 1) // (2 + 2 * width)
    kind = np.dtype("<u2") if width == 2 else np.dtype("<u4")
    low = np.frombuffer(data, dtype="<u2", count=n, offset=1)
    tf = np.frombuffer(data, dtype=kind, count=n, offset=1 + 2 * n)
    length = np.frombuffer(data, dtype=kind, count=n, offset=1 + 2 * n + width * n)
    return low, tf, length


def _decode(block: int, data: bytes) -> np.ndarray:
    """One block as (id, tf, len) int64 rows."""
    low, tf, length = _columns(data)
    return np.stack([(block << BLOCK_BITS) + low.astype(np.int64), tf, length], axis=1)  # int64: the ids


def _encode(rows: np.ndarray) -> bytes:
    width = 2 if int(rows[:, 1:].max()) < (1 << 16) else 4
    kind = "<u2" if width == 2 else "<u4"
    low = (rows[:, 0] & ((1 << BLOCK_BITS) - 1)).astype("<u2")
    return bytes([width]) + low.tobytes() + rows[:, 1].astype(kind).tobytes() + rows[:, 2].astype(kind).tobytes()


def write(
    cur: Any, new: NewPostings, removed_ids: Sequence[int], removed_blocks: Iterable[tuple[str, int]], empty: bool
) -> None:
    """Bring `rag_term_blocks` in step with a change set, inside its transaction: every (term, block) that loses
    a removed chunk's posting (`removed_blocks`) or gains a new one is read, the removed chunks' postings dropped,
    the new ones merged in id order, and written back (a block left empty is deleted). `empty`: the table was
    just made (a first build), so there is nothing to read."""
    added = new.blocks()
    keys = sorted(set(added) | set(removed_blocks))
    if not keys:
        return
    old: dict[tuple[str, int], np.ndarray] = {}
    if not empty:
        pairs = ([t for t, _ in keys], [b for _, b in keys])
        cur.execute(
            "SELECT b.term, b.block, b.data FROM rag_term_blocks b "
            "JOIN unnest(%s::text[], %s::int8[]) AS k(term, block) ON k.term = b.term AND k.block = b.block",
            pairs,
            binary=True,
        )
        old = {(t, int(b)): _decode(int(b), bytes(d)) for t, b, d in cur.fetchall()}
        cur.execute(
            "DELETE FROM rag_term_blocks b USING unnest(%s::text[], %s::int8[]) AS k(term, block) "
            "WHERE k.term = b.term AND k.block = b.block",
            pairs,
        )
    gone = np.asarray(sorted(set(removed_ids)), dtype=np.int64)
    with cur.copy("COPY rag_term_blocks (term, block, data) FROM STDIN WITH (FORMAT BINARY)") as copy:
        copy.set_types(["text", "int8", "bytea"])
        for key in keys:
            rows = old.get(key)
            if rows is not None and len(gone):
                rows = rows[~np.isin(rows[:, 0], gone)]
            if key in added:
                rows = added[key] if rows is None or not len(rows) else np.concatenate([rows, added[key]])
                rows = rows[np.argsort(rows[:, 0], kind="stable")]
            if rows is not None and len(rows):
                copy.write_row((key[0], key[1], _encode(rows)))


def top(
    rows: Callable[..., list[tuple]],
    tokens: Sequence[str],
    n: int,
    df: dict[str, int],
    n_docs: int,
    avgdl: float,
) -> list[tuple[int, float]]:
    """BM25 top `n` over every chunk holding a query term (`rows`: the backend's statement runner in its
    snapshot; `df`: the query terms' document frequencies, those absent left out), best first, ties by id."""
    terms = sorted(df)
    if not terms or n <= 0:
        return []
    got: dict[str, list[tuple[int, bytes]]] = {}
    for term, block, data in rows(
        "SELECT term, block, data FROM rag_term_blocks WHERE term = ANY(%s) ORDER BY term, block", [terms], binary=True
    ):
        got.setdefault(term, []).append((int(block), data))
    parts: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for term, blocks in got.items():
        cols = [(b, *_columns(d)) for b, d in blocks]
        ids = np.concatenate([(b << BLOCK_BITS) + low.astype(np.int64) for b, low, _, _ in cols])
        tf = np.concatenate([c[2] for c in cols])
        length = np.concatenate([c[3] for c in cols])
        parts[term] = (ids, _parts(tf, length, _idf(df[term], n_docs), avgdl))
    if not parts:
        return []
    every = [i for i, _ in parts.values()]
    high = max(int(i[-1]) for i in every)  # each term's ids are in order
    total = sum(len(i) for i in every)
    # A score per chunk id (4 bytes each: 4 MB per million chunks) unless the ids are far sparser than that.
    dense = high < 4 * total + (1 << 20)
    ids = np.arange(high + 1) if dense else np.unique(np.concatenate(every))
    score = np.zeros(len(ids), dtype=np.float32)
    for t in tokens:  # in the query's order, a repeated token each time: float32 sums, as bm25s and the SQL
        if t in parts:
            where, part = parts[t]
            score[where if dense else np.searchsorted(ids, where)] += part  # a term's ids are distinct
    # Every part is positive (idf > 0, tf ≥ 1), so the chunks holding a query term are those above 0 (found
    # first: selecting among mostly equal zeros is numpy's slow case, ~40 ms per million); the top n are those at
    # or above the n-th score (ties at it included: they rank by id below).
    held = np.flatnonzero(score > 0)
    ids, score = ids[held], score[held]
    if len(score) > n:
        keep = score >= np.partition(score, len(score) - n)[len(score) - n]
        ids, score = ids[keep], score[keep]
    order = np.lexsort((ids, -score))[:n]
    # As PostgreSQL prints a float4 (its shortest exact digits) and the SQL paths read it back.
    return [(int(i), float(str(s))) for i, s in zip(ids[order], score[order], strict=True)]


def _idf(df: int, n_docs: int) -> float:
    """As `PostgresBackend._QUERY` computes it (C's log, float8)."""
    return math.log(1 + (float(n_docs) - df + 0.5) / (df + 0.5))


#: Above this many (tf, length) cells the parts are computed per posting instead of looked up in a table.
_TABLE_CELLS = 1 << 20


def _parts(tf: np.ndarray, length: np.ndarray, idf: float, avgdl: float) -> np.ndarray:
    """Each posting's part, `PostgresBackend._PART` in the same order of float64 operations, then float32. The
    parts depend on (tf, length) only and a term's postings share a few thousand such pairs, so they are
    computed once per pair in a table and looked up (exactly the same values, a fraction of the work)."""
    max_tf, max_len = int(tf.max()), int(length.max())
    if (max_tf + 1) * (max_len + 1) > min(_TABLE_CELLS, 4 * len(tf)):
        return _part(tf.astype(np.float64), length.astype(np.float64), idf, avgdl)
    t = np.arange(max_tf + 1, dtype=np.float64)[:, None]
    n = np.arange(max_len + 1, dtype=np.float64)[None, :]
    return _part(t, n, idf, avgdl)[tf, length]


def _part(tf: np.ndarray, length: np.ndarray, idf: float, avgdl: float) -> np.ndarray:
    return (idf * tf / (tf + K1 * ((1 - B) + B * length / avgdl))).astype(np.float32)
