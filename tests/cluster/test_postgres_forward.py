"""BM25 completing its candidates from rag_chunk_terms (each chunk's terms and tfs in one row) instead of the
postings: the same top n as scoring every posting and as the postings lookups, the table in step with the
postings through additions, removals and replacements; an index without it (written before it existed) keeps
the postings lookups and updates until a full build makes it; a table an older writer left stale is dropped."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rag.backends import Filter
from rag.store import Changes
from tests.cluster.conftest import new_database
from tests.cluster.test_postgres_bm25 import FIELDS, _corpus, _every_posting, _zipf

pytestmark = [pytest.mark.cluster]

FILTERS = [None, Filter.of(["beta post"]), Filter.of([], "2024-03-01", "2024-04-15"),
           Filter.of(["alpha news", "gamma times"], "2024-06-10", None), Filter.of(["nobody"])]  # fmt: skip


def _queries(seed: int = 3, count: int = 25) -> list[list[str]]:
    rng = np.random.default_rng(seed)
    out = [["w0", "w1", "w399"], ["w3", "w3", "w250"], ["w0", "w2", "w0", "w300"]]
    for _ in range(count):
        tokens = [f"w{int(i)}" for i in rng.choice(400, int(rng.integers(1, 6)), p=_zipf(400))]
        out.append([*tokens, f"w{int(rng.integers(200, 400))}"])
    return out


def update(base: Changes, added: Changes, first_id: int) -> Changes:
    """An update of the index `base` built: `added` added, 20 of its articles removed, 10 replaced by other text
    (their new chunks numbered from `first_id` on)."""
    replaced = _corpus(10, start=0, seed=7)
    removed = [a.id for a in base.add_articles[100:120]]
    return Changes(
        removed + [a.id for a in replaced.add_articles],
        [*added.add_articles, *replaced.add_articles],
        [*added.add_chunks, *[c.__class__(c.article_id, c.start, c.end, c.text, id=first_id + c.id)
                              for c in replaced.add_chunks]],
        np.concatenate([added.add_vectors, replaced.add_vectors]),
    )  # fmt: skip


def _table_matches_postings(dsn: str) -> None:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        diff = conn.execute(
            """WITH p AS (SELECT chunk_id, jsonb_object_agg(term, tf::text) AS tfs, max(len) AS len
                          FROM rag_postings GROUP BY chunk_id)
               SELECT count(*) FROM p FULL JOIN rag_chunk_terms f ON f.chunk_id = p.chunk_id
               WHERE f.chunk_id IS NULL OR p.chunk_id IS NULL OR f.tfs <> p.tfs OR f.len <> p.len"""
        ).fetchone()[0]
        n = conn.execute("SELECT count(*) FROM rag_chunk_terms").fetchone()[0]
        chunks = conn.execute("SELECT count(*) FROM rag_chunks WHERE len > 0").fetchone()[0]
    assert diff == 0 and n == chunks, (diff, n, chunks)


def _has_table(dsn: str) -> bool:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        return bool(conn.execute("SELECT to_regclass('rag_chunk_terms') IS NOT NULL").fetchone()[0])


def _same_as_every_posting(backend, queries: list[list[str]]) -> int:  # noqa: ANN001
    checked = 0
    for tokens in queries:
        for flt in FILTERS:
            for n in (3, 10):
                want = _every_posting(backend, tokens, n, flt)
                with backend.session():
                    got = backend.lexical_top(tokens, n, flt, {})
                assert got == want, (tokens, flt, n, backend._forward)
                checked += 1
    return checked


def _reads(dsn: str, forward: bool, queries: int = 8, floor: int = 50) -> None:
    """A reader opened on `dsn` takes the term table (`forward`) or the postings path, and ranks exactly."""
    from rag.backends.postgres import PostgresBackend

    backend = PostgresBackend(dsn)
    try:
        assert backend._forward is forward
        assert _same_as_every_posting(backend, _queries(count=queries)) > floor
    finally:
        backend.close()


def test_the_term_table_ranks_as_every_posting_and_stays_in_step_through_updates(pg_server, monkeypatch) -> None:
    from rag.backends import postgres
    from rag.backends.postgres import PostgresBackend

    dsn = new_database(pg_server, "forward")
    base = _corpus()
    m = PostgresBackend.apply(dsn, base, FIELDS, None)
    assert m["bm25"]["forward"] is True
    _table_matches_postings(dsn)
    m = PostgresBackend.apply(dsn, update(base, _corpus(60, start=300, seed=1), 5000), FIELDS, m["generation"])
    assert m["bm25"]["forward"] is True
    _table_matches_postings(dsn)
    backend = PostgresBackend(dsn)
    try:
        assert backend._forward
        for cost in (0, 8):  # few terms read in full (many candidates completed from the table), and its choice
            monkeypatch.setattr(postgres, "_PROBE_COST", cost)
            assert _same_as_every_posting(backend, _queries()) > 200
        # The postings lookups on the same index give the same rows (scores included).
        for tokens in _queries(seed=5, count=10):
            for flt in FILTERS:
                with backend.session():
                    backend._forward = True
                    a = backend.lexical_top(tokens, 10, flt, {})
                    backend._forward = False
                    b = backend.lexical_top(tokens, 10, flt, {})
                assert a == b, (tokens, flt)
    finally:
        backend.close()


def test_an_index_without_the_table_keeps_the_postings_path_until_a_full_build(pg_server) -> None:
    import psycopg

    from rag.backends.postgres import PostgresBackend

    dsn = new_database(pg_server, "noforward")
    base = _corpus(120)
    m = PostgresBackend.apply(dsn, base, FIELDS, None)
    old = {k: v for k, v in m.items()}
    old["bm25"] = {"outlet": True, "method": "lucene"}  # what the version before the table wrote
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DROP TABLE rag_chunk_terms")
        conn.execute("UPDATE rag_manifest SET manifest = %s::jsonb", [json.dumps(old)])
    _reads(dsn, forward=False)
    # An update keeps it so: no table (it would hold only the new chunks), the postings path, still exact.
    m = PostgresBackend.apply(dsn, _corpus(30, start=300, seed=1), FIELDS, m["generation"])
    assert m["bm25"]["forward"] is False and not _has_table(dsn)
    _reads(dsn, forward=False)
    # A full build (`rag index --rebuild`: every article replaced) makes the table, complete.
    every = _corpus(150, seed=2)
    with psycopg.connect(dsn, autocommit=True) as conn:
        ids = [r[0] for r in conn.execute("SELECT id FROM rag_articles").fetchall()]
    m = PostgresBackend.apply(dsn, Changes(ids, every.add_articles, every.add_chunks, every.add_vectors), FIELDS,
                              m["generation"])  # fmt: skip
    assert m["bm25"]["forward"] is True
    _table_matches_postings(dsn)
    _reads(dsn, forward=True)


def test_a_table_an_older_writer_left_behind_is_not_read_and_the_next_update_drops_it(pg_server) -> None:
    """A version without the table updating the index writes the postings but not the table and a manifest
    without `bm25.forward`: readers then use the postings, and the next update drops the stale table."""
    import psycopg

    from rag.backends.postgres import PostgresBackend

    dsn = new_database(pg_server, "stale")
    m = PostgresBackend.apply(dsn, _corpus(60), FIELDS, None)
    stale = {**m, "bm25": {"outlet": True, "method": "lucene"}}
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DELETE FROM rag_chunk_terms WHERE chunk_id < 30")  # as if those chunks were written without it
        conn.execute("UPDATE rag_manifest SET manifest = %s::jsonb", [json.dumps(stale)])
    _reads(dsn, forward=False, queries=5, floor=30)
    m = PostgresBackend.apply(dsn, _corpus(10, start=300, seed=1), FIELDS, m["generation"])
    assert m["bm25"]["forward"] is False and not _has_table(dsn)
