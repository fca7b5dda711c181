"""Each term's postings as a few plain arrays in PostgreSQL (`rag_term_blocks`), summed here with numpy: BM25
without a filter in one read per term instead of a SQL aggregate over every posting.

    rag_term_blocks (term, block, data): the postings of `term` among the chunk ids block · 2^16 … (block + 1) ·
    2^16 − 1, as `_POSTING` records (the id's low 16 bits, tf, the chunk's BM25 length) in id order, stored
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
_POSTING = np.dtype([("id", "<u2"), ("tf", "<u4"), ("len", "<u4")])
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


def _decode(block: int, data: bytes) -> np.ndarray:
    rec = np.frombuffer(data, dtype=_POSTING)
    rows = np.empty((len(rec), 3), dtype=np.int64)
    rows[:, 0] = (block << BLOCK_BITS) + rec["id"].astype(np.int64)
    rows[:, 1] = rec["tf"]
    rows[:, 2] = rec["len"]
    return rows


def _encode(rows: np.ndarray) -> bytes:
    rec = np.empty(len(rows), dtype=_POSTING)
    rec["id"] = rows[:, 0] & ((1 << BLOCK_BITS) - 1)
    rec["tf"] = rows[:, 1]
    rec["len"] = rows[:, 2]
    return rec.tobytes()


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
    got: dict[str, list[np.ndarray]] = {}
    for term, block, data in rows(
        "SELECT term, block, data FROM rag_term_blocks WHERE term = ANY(%s) ORDER BY term, block", [terms], binary=True
    ):
        got.setdefault(term, []).append(_decode(int(block), bytes(data)))
    parts: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for term, blocks in got.items():
        p = np.concatenate(blocks)
        d = df[term]
        idf = math.log(1 + (float(n_docs) - d + 0.5) / (d + 0.5))  # as `PostgresBackend._QUERY` (C's log)
        tf, length = p[:, 1].astype(np.float64), p[:, 2].astype(np.float64)
        part = (idf * tf / (tf + K1 * ((1 - B) + B * length / avgdl))).astype(np.float32)
        parts[term] = (p[:, 0], part)
    if not parts:
        return []
    every = [i for i, _ in parts.values()]
    high = max(int(i[-1]) for i in every)  # each term's ids are in order
    total = sum(len(i) for i in every)
    # A score per chunk id (4 bytes each: 4 MB per million chunks) unless the ids are far sparser than that.
    dense = high < 4 * total + (1 << 20)
    ids = np.arange(high + 1) if dense else np.unique(np.concatenate(every))
    score = np.zeros(len(ids), dtype=np.float32)
    held = np.zeros(len(ids), dtype=bool)
    for t in tokens:  # in the query's order, a repeated token each time: float32 sums, as bm25s and the SQL
        if t in parts:
            where, part = parts[t]
            at = where if dense else np.searchsorted(ids, where)
            score[at] = score[at] + part
            held[at] = True
    ids, score = ids[held], score[held]
    keep = score > 0
    ids, score = ids[keep], score[keep]
    if len(ids) > n:
        nth = np.partition(score, len(score) - n)[len(score) - n]
        keep = score >= nth
        ids, score = ids[keep], score[keep]
    order = np.lexsort((ids, -score))[:n]
    # As PostgreSQL prints a float4 (its shortest exact digits) and the SQL paths read it back.
    return [(int(i), float(str(s))) for i, s in zip(ids[order], score[order], strict=True)]
