"""The BM25 postings in PostgreSQL: each term's postings as a few plain arrays (`rag_term_blocks`), read in one
row per block of chunk ids and summed here with numpy, with or without an outlet and date filter.

    rag_term_blocks (term, block, data, meta): the postings of `term` among the chunk ids block · 2^16 …
        (block + 1) · 2^16 − 1, in id order. `data`: one byte w, then the ids' low 16 bits (uint16), the tfs and
        the chunks' BM25 lengths (uint16 when w = 2, uint32 when a value needs it: w = 4); `meta`: one byte w,
        then each posting's chunk's outlet code (`rag_outlets`; uint16 or uint32 by w), first day and last day
        (int32 yyyymmdd; an undated chunk has first > last, so no window holds it). Both stored uncompressed
        (EXTERNAL: read without decompressing, `meta` only when a filter asks for it).
    rag_outlets (code, outlet_cf): the outlet codes.

Why arrays and not a row per posting: at 1,000,000 chunks the postings are ~80 million; as rows with their
filter columns and the covering indexes a filtered search needs they took 23 GB (more than this machine's
memory, so a cold search read them from disk), as arrays 16 bytes a posting (~1.3 GB). A query reads each of
its terms' blocks once (a frequent term: a few hundred thousand postings, a few MB) and a vector operation
scores them; a filter is a mask over `meta`. An update stays small: a change set rewrites only the blocks of
its terms that hold one of its chunk ids (docs/scaling.md).

Each chunk's score is bm25s's ("lucene"): the part of each term in float64, rounded to float32, summed in
float32 over the query's tokens in their order; ranked by score, then chunk id, as the local backend ranks.
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from rag.lexical import idf, term_score

BLOCK_BITS = 16
TABLE = [
    """CREATE TABLE IF NOT EXISTS rag_term_blocks (
        term text NOT NULL, block bigint NOT NULL, data bytea NOT NULL, meta bytea NOT NULL,
        PRIMARY KEY (term, block))""",
    "ALTER TABLE rag_term_blocks ALTER COLUMN data SET STORAGE EXTERNAL, ALTER COLUMN meta SET STORAGE EXTERNAL",
    "CREATE TABLE IF NOT EXISTS rag_outlets (code int PRIMARY KEY, outlet_cf text NOT NULL UNIQUE)",
]
#: The (first, last) day keys of a chunk without a date: no window [since, until] holds it.
UNDATED = (2**31 - 1, -(2**31))
_DAY = re.compile(r"(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")


def day_key(day: str | None) -> int | None:
    """An ISO day, month or year as yyyymmdd (a month's day, a year's month and day 00), ordered as the strings
    are: `key(a) <= key(b)` exactly when `a <= b` for a chunk's ISO day against a filter's bound. None if not
    such a date."""
    m = _DAY.match(day or "")
    if m is None:
        return None
    return int(m.group(1)) * 10_000 + int(m.group(2) or 0) * 100 + int(m.group(3) or 0)


def chunk_days(first: str | None, last: str | None) -> tuple[int, int]:
    """A chunk's (first, last) day keys (`UNDATED` when it has no ISO day bounds)."""
    a, b = day_key(first), day_key(last)
    return (a, b) if a is not None and b is not None else UNDATED


@dataclass(frozen=True)
class Allowed:
    """What a filter lets through, in the blocks' terms: outlet codes (None: any) and day keys (None: open)."""

    codes: tuple[int, ...] | None
    since: int | None
    until: int | None


class NewPostings:
    """The postings a change set adds, gathered per term while they are written (`add`): the chunk ids and the
    (tf, length) pairs in two flat arrays per term (16 bytes a posting, no Python object each), and each new
    chunk's filter columns once (`chunk`)."""

    def __init__(self) -> None:
        self.ids: dict[str, array] = {}
        self.values: dict[str, array] = {}
        self._meta_ids = array("q")
        self._meta = array("q")

    def chunk(self, chunk_id: int, outlet_code: int, days: tuple[int, int]) -> None:
        self._meta_ids.append(chunk_id)
        self._meta.extend((outlet_code, *days))

    def add(self, term: str, chunk_id: int, tf: int, length: int) -> None:
        ids = self.ids.get(term)
        if ids is None:
            ids = self.ids[term] = array("q")
            self.values[term] = array("I")
        ids.append(chunk_id)
        self.values[term].extend((tf, length))

    def blocks(self) -> dict[tuple[str, int], np.ndarray]:
        """The new postings of each (term, block), as (id, tf, len, outlet, first, last) int64 rows in id order."""
        meta_ids = np.frombuffer(self._meta_ids, dtype=np.int64)
        order = np.argsort(meta_ids, kind="stable")
        meta_ids, meta = meta_ids[order], np.frombuffer(self._meta, dtype=np.int64).reshape(-1, 3)[order]
        out: dict[tuple[str, int], np.ndarray] = {}
        for term, ids in self.ids.items():
            rows = np.empty((len(ids), 6), dtype=np.int64)
            rows[:, 0] = np.frombuffer(ids, dtype=np.int64)
            rows[:, 1:3] = np.frombuffer(self.values[term], dtype=np.uint32).reshape(-1, 2)
            rows[:, 3:] = meta[np.searchsorted(meta_ids, rows[:, 0])]
            rows = rows[np.argsort(rows[:, 0], kind="stable")]
            block = rows[:, 0] >> BLOCK_BITS
            cuts = np.flatnonzero(np.diff(block)) + 1
            for part in np.split(rows, cuts):
                out[(term, int(part[0, 0] >> BLOCK_BITS))] = part
        return out


def _width(values: np.ndarray) -> int:
    return 2 if not len(values) or int(values.max()) < (1 << 16) else 4


def _kind(width: int) -> np.dtype:
    """The little-endian unsigned integer of `width` bytes (2 or 4) a block stores its values in."""
    return np.dtype("<u2") if width == 2 else np.dtype("<u4")


def _columns(data: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(low 16 bits of the ids, tfs, lengths) of one block's `data`, as views of it (nothing copied)."""
    width = data[0]
    n = (len(data) - 1) // (2 + 2 * width)
    kind = _kind(width)
    low = np.frombuffer(data, dtype="<u2", count=n, offset=1)
    tf = np.frombuffer(data, dtype=kind, count=n, offset=1 + 2 * n)
    length = np.frombuffer(data, dtype=kind, count=n, offset=1 + 2 * n + width * n)
    return low, tf, length


def _meta_columns(meta: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(outlet codes, first days, last days) of one block's `meta`, as views of it."""
    width = meta[0]
    n = (len(meta) - 1) // (width + 8)
    kind = _kind(width)
    outlet = np.frombuffer(meta, dtype=kind, count=n, offset=1)
    first = np.frombuffer(meta, dtype="<i4", count=n, offset=1 + width * n)
    last = np.frombuffer(meta, dtype="<i4", count=n, offset=1 + width * n + 4 * n)
    return outlet, first, last


def _decode(block: int, data: bytes, meta: bytes) -> np.ndarray:
    """One block as (id, tf, len, outlet, first, last) int64 rows."""
    low, tf, length = _columns(data)
    return np.stack([(block << BLOCK_BITS) + low.astype(np.int64), tf, length, *_meta_columns(meta)], axis=1)


def _encode(rows: np.ndarray) -> tuple[bytes, bytes]:
    """`data` and `meta` of one block's (id, tf, len, outlet, first, last) rows."""
    width = _width(rows[:, 1:3])
    kind = _kind(width)
    low = (rows[:, 0] & ((1 << BLOCK_BITS) - 1)).astype("<u2")
    data = bytes([width]) + low.tobytes() + rows[:, 1].astype(kind).tobytes() + rows[:, 2].astype(kind).tobytes()
    owidth = _width(rows[:, 3])
    meta = (
        bytes([owidth])
        + rows[:, 3].astype(_kind(owidth)).tobytes()
        + rows[:, 4].astype("<i4").tobytes()
        + rows[:, 5].astype("<i4").tobytes()
    )
    return data, meta


class BlocksMismatch(Exception):
    """The blocks do not hold the postings an update expected to remove (the index and this code disagree)."""


def write(
    cur: Any,
    new: NewPostings,
    removed_ids: Sequence[int],
    removed_blocks: Iterable[tuple[str, int]],
    removed_postings: int,
    empty: bool,
) -> dict[str, int]:
    """Bring `rag_term_blocks` in step with a change set, inside its transaction: every (term, block) that loses
    a removed chunk's posting (`removed_blocks`) or gains a new one is read, the removed chunks' postings dropped,
    the new ones merged in id order, and written back (a block left empty is deleted). `empty`: the table was
    just made (a first build), so there is nothing to read. Returns each touched term's change of document
    frequency. Raises `BlocksMismatch` when the blocks held another number of the removed chunks' postings than
    `removed_postings` (the caller's count from their text)."""
    added = new.blocks()
    keys = sorted(set(added) | set(removed_blocks))
    delta: dict[str, int] = {}
    if not keys:
        return delta
    old: dict[tuple[str, int], np.ndarray] = {}
    if not empty:
        pairs = ([t for t, _ in keys], [b for _, b in keys])
        cur.execute(
            "SELECT b.term, b.block, b.data, b.meta FROM rag_term_blocks b "
            "JOIN unnest(%s::text[], %s::int8[]) AS k(term, block) ON k.term = b.term AND k.block = b.block",
            pairs,
            binary=True,
        )
        old = {(t, int(b)): _decode(int(b), bytes(d), bytes(m)) for t, b, d, m in cur.fetchall()}
        cur.execute(
            "DELETE FROM rag_term_blocks b USING unnest(%s::text[], %s::int8[]) AS k(term, block) "
            "WHERE k.term = b.term AND k.block = b.block",
            pairs,
        )
    gone = np.asarray(sorted(set(removed_ids)), dtype=np.int64)
    dropped = 0
    with cur.copy("COPY rag_term_blocks (term, block, data, meta) FROM STDIN WITH (FORMAT BINARY)") as copy:
        copy.set_types(["text", "int8", "bytea", "bytea"])
        for key in keys:
            rows = old.get(key)
            lost = 0
            if rows is not None and len(gone):
                keep = ~np.isin(rows[:, 0], gone)
                lost = int(len(rows) - keep.sum())
                rows = rows[keep]
            gained = len(added.get(key, ()))
            if gained:
                rows = added[key] if rows is None or not len(rows) else np.concatenate([rows, added[key]])
                rows = rows[np.argsort(rows[:, 0], kind="stable")]
            if rows is not None and len(rows):
                copy.write_row((key[0], key[1], *_encode(rows)))
            dropped += lost
            delta[key[0]] = delta.get(key[0], 0) + gained - lost
    if dropped != removed_postings:
        raise BlocksMismatch(f"{dropped} postings of the removed chunks found, {removed_postings} expected")
    return delta


def top(
    rows: Callable[..., list[tuple]],
    tokens: Sequence[str],
    n: int,
    df: dict[str, int],
    n_docs: int,
    avgdl: float,
    allowed: Allowed | None = None,
) -> list[tuple[int, float]]:
    """BM25 top `n` over the chunks holding a query term (inside `allowed` when given), best first, ties by id.
    `rows`: the backend's statement runner in its snapshot; `df`: the query terms' document frequencies in the
    whole index (those absent left out), as the local backend's idf is."""
    terms = sorted(df)
    if not terms or n <= 0:
        return []
    got: dict[str, list[tuple]] = {}
    columns = "term, block, data, meta" if allowed is not None else "term, block, data"
    for row in rows(
        f"SELECT {columns} FROM rag_term_blocks WHERE term = ANY(%s) ORDER BY term, block",  # noqa: S608 - fixed
        [terms],
        binary=True,
    ):
        got.setdefault(row[0], []).append(row[1:])
    parts: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for term, blocks in got.items():
        cols = [(int(b), *_columns(d)) for b, d, *_ in blocks]
        ids = np.concatenate([(b << BLOCK_BITS) + low.astype(np.int64) for b, low, _, _ in cols])
        tf = np.concatenate([c[2] for c in cols])
        length = np.concatenate([c[3] for c in cols])
        if allowed is not None:
            keep = _inside(allowed, [_meta_columns(m) for _, _, m in blocks])
            ids, tf, length = ids[keep], tf[keep], length[keep]
            if not len(ids):
                continue
        parts[term] = (ids, _parts(tf, length, idf(df[term], n_docs), avgdl))
    if not parts:
        return []
    every = [i for i, _ in parts.values()]
    high = max(int(i[-1]) for i in every)  # each term's ids are in order
    total = sum(len(i) for i in every)
    # A score per chunk id (4 bytes each: 4 MB per million chunks) unless the ids are far sparser than that.
    dense = high < 4 * total + (1 << 20)
    ids = np.arange(high + 1) if dense else np.unique(np.concatenate(every))
    score = np.zeros(len(ids), dtype=np.float32)
    for t in tokens:  # in the query's order, a repeated token each time: float32 sums, as bm25s does
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
    # As PostgreSQL prints a float4 (its shortest exact digits): the scores the local backend's float32 give.
    return [(int(i), float(str(s))) for i, s in zip(ids[order], score[order], strict=True)]


def _inside(allowed: Allowed, metas: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> np.ndarray:
    """Which postings (of a term's blocks, their `meta` columns in order) the filter lets through."""
    outlet = np.concatenate([m[0] for m in metas])
    keep = np.ones(len(outlet), dtype=bool) if allowed.codes is None else np.isin(outlet, allowed.codes)
    if allowed.since is not None:
        keep &= np.concatenate([m[2] for m in metas]) >= allowed.since
    if allowed.until is not None:
        keep &= np.concatenate([m[1] for m in metas]) <= allowed.until
    return keep


#: Above this many (tf, length) cells the parts are computed per posting instead of looked up in a table.
_TABLE_CELLS = 1 << 20


def _parts(tf: np.ndarray, length: np.ndarray, idf: float, avgdl: float) -> np.ndarray:
    """Each posting's part, in float64 then float32. The parts depend on (tf, length) only and a term's postings
    share a few thousand such pairs, so they are computed once per pair in a table and looked up (exactly the
    same values, a fraction of the work)."""
    max_tf, max_len = int(tf.max()), int(length.max())
    if (max_tf + 1) * (max_len + 1) > min(_TABLE_CELLS, 4 * len(tf)):
        return _part(tf.astype(np.float64), length.astype(np.float64), idf, avgdl)
    t = np.arange(max_tf + 1, dtype=np.float64)[:, None]
    n = np.arange(max_len + 1, dtype=np.float64)[None, :]
    return _part(t, n, idf, avgdl)[tf, length]


def _part(tf: np.ndarray, length: np.ndarray, idf: float, avgdl: float) -> np.ndarray:
    return term_score(tf, length, idf, avgdl).astype(np.float32)
