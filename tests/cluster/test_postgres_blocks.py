"""BM25 without a filter from each term's postings blocks (rag.backends.pg_blocks): the blocks hold exactly the
postings through a first build, additions, removals, replacements and a rebuild; they rank as scoring every
posting and as the SQL paths, scores included, across block boundaries; an index without them (written before
they existed) keeps the SQL paths until a full build makes them."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rag.store import Changes
from rag.types import Chunk
from tests.cluster.conftest import new_database
from tests.cluster.test_postgres_bm25 import FIELDS, _corpus, _every_posting
from tests.cluster.test_postgres_forward import _queries, update

pytestmark = [pytest.mark.cluster]


def _blocks_match_postings(dsn: str) -> int:
    """Every (term, chunk, tf, len) of rag_postings is in rag_term_blocks and nothing else is; returns the count."""
    import psycopg

    from rag.backends.pg_blocks import _decode

    with psycopg.connect(dsn, autocommit=True) as conn:
        want = {(t, int(c), int(f), int(n)) for t, c, f, n in
                conn.execute("SELECT term, chunk_id, tf, len FROM rag_postings").fetchall()}  # fmt: skip
        got: set[tuple[str, int, int, int]] = set()
        for term, block, data in conn.execute("SELECT term, block, data FROM rag_term_blocks", binary=True):
            rows = _decode(int(block), bytes(data))
            assert len(rows) and (np.diff(rows[:, 0]) > 0).all(), (term, block)  # never empty, in id order
            assert ((rows[:, 0] >> 16) == block).all()
            got |= {(term, int(c), int(f), int(n)) for c, f, n in rows}
    assert got == want, (len(got - want), len(want - got))
    return len(got)


def _same_unfiltered(backend, queries: list[list[str]]) -> int:  # noqa: ANN001
    """The blocks path, the SQL paths (MaxScore, every posting) and the reference give the same rows."""
    checked = 0
    for tokens in queries:
        for n in (1, 3, 10, 60):
            want = _every_posting(backend, tokens, n, None)
            with backend.session():
                assert backend._blocks
                got = backend.lexical_top(tokens, n, None, {})
                backend._blocks = False
                try:
                    sql = backend.lexical_top(tokens, n, None, {})
                finally:
                    backend._blocks = True
            assert got == want == sql, (tokens, n)
            checked += 1
    return checked


def _spread(changes: Changes, stride: int, offset: int = 0) -> Changes:
    """The same change set with chunk ids spread `stride` apart, so that they fall in many blocks of 2^16 ids."""
    chunks = [Chunk(c.article_id, c.start, c.end, c.text, id=offset + c.id * stride) for c in changes.add_chunks]
    return Changes(changes.remove_articles, changes.add_articles, chunks, changes.add_vectors)


def test_the_blocks_hold_the_postings_and_rank_as_every_posting_through_updates(pg_server) -> None:
    import psycopg

    from rag.backends.postgres import PostgresBackend

    dsn = new_database(pg_server, "blocks")
    base = _spread(_corpus(), 1500)  # 900 chunks over ~20 blocks
    m = PostgresBackend.apply(dsn, base, FIELDS, None)
    assert m["bm25"]["blocks"] is True
    assert _blocks_match_postings(dsn) > 1000
    # An update: 60 articles added (ids inside old blocks and past them), 20 removed, 10 replaced by other text.
    added = _spread(_corpus(60, start=300, seed=1), 777, offset=600_001)
    changes = update(base, added, 2_000_001)
    m = PostgresBackend.apply(dsn, changes, FIELDS, m["generation"])
    assert m["bm25"]["blocks"] is True
    _blocks_match_postings(dsn)
    backend = PostgresBackend(dsn)
    try:
        assert _same_unfiltered(backend, _queries()) > 100
    finally:
        backend.close()
    # Removing every article of one outlet empties some blocks: they are deleted, not left empty.
    with psycopg.connect(dsn, autocommit=True) as conn:
        gone = [r[0] for r in conn.execute("SELECT id FROM rag_articles WHERE outlet = 'Beta Post'").fetchall()]
    m = PostgresBackend.apply(dsn, Changes(gone, [], [], np.zeros((0, 8), np.float32)), FIELDS, m["generation"])
    _blocks_match_postings(dsn)
    # A rebuild (every article replaced) writes every block anew.
    with psycopg.connect(dsn, autocommit=True) as conn:
        ids = [r[0] for r in conn.execute("SELECT id FROM rag_articles").fetchall()]
    every = _corpus(150, seed=2)
    m = PostgresBackend.apply(dsn, Changes(ids, every.add_articles, every.add_chunks, every.add_vectors), FIELDS,
                              m["generation"])  # fmt: skip
    assert _blocks_match_postings(dsn) > 500
    backend = PostgresBackend(dsn)
    try:
        assert _same_unfiltered(backend, _queries(seed=4, count=10)) > 40
    finally:
        backend.close()


def test_an_index_without_blocks_keeps_the_sql_paths_until_a_full_build(pg_server) -> None:
    import psycopg

    from rag.backends.postgres import PostgresBackend

    dsn = new_database(pg_server, "noblocks")
    m = PostgresBackend.apply(dsn, _corpus(120), FIELDS, None)
    old = {**m, "bm25": {k: v for k, v in m["bm25"].items() if k != "blocks"}}  # what the version before wrote
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DROP TABLE rag_term_blocks")
        conn.execute("UPDATE rag_manifest SET manifest = %s::jsonb", [json.dumps(old)])
    backend = PostgresBackend(dsn)
    try:
        assert not backend._blocks
        for tokens in _queries(count=8):
            with backend.session():
                assert backend.lexical_top(tokens, 10, None, {}) == _every_posting(backend, tokens, 10, None)
    finally:
        backend.close()
    # An update keeps it so (blocks of the new chunks alone would be wrong); a full build makes them.
    m = PostgresBackend.apply(dsn, _corpus(30, start=300, seed=1), FIELDS, m["generation"])
    assert m["bm25"]["blocks"] is False
    with psycopg.connect(dsn, autocommit=True) as conn:
        assert conn.execute("SELECT to_regclass('rag_term_blocks') IS NULL").fetchone()[0]
        ids = [r[0] for r in conn.execute("SELECT id FROM rag_articles").fetchall()]
    every = _corpus(150, seed=2)
    m = PostgresBackend.apply(dsn, Changes(ids, every.add_articles, every.add_chunks, every.add_vectors), FIELDS,
                              m["generation"])  # fmt: skip
    assert m["bm25"]["blocks"] is True
    _blocks_match_postings(dsn)


def test_a_block_round_trips_with_16_bit_values_and_with_wider_ones() -> None:
    from rag.backends.pg_blocks import _decode, _encode

    for top in (7, 65_535, 70_000):  # the last needs 32-bit tfs and lengths
        rows = np.array([[5 * 65_536 + 3, 1, 12], [5 * 65_536 + 9, 4, top], [6 * 65_536 - 1, top, top]])
        data = _encode(rows)
        assert data[0] == (2 if top < 65_536 else 4) and len(data) == 1 + 3 * (2 + 2 * data[0])
        assert (_decode(5, data) == rows).all()
