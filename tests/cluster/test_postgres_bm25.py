"""BM25 in PostgreSQL with the filter pushed into the postings: the same top n as scoring every posting through
the chunks' own filter columns (no index ranges, no pruning), for day, month and year dates and every filter
kind; an index of the older table layout asks for a rebuild in one line, and a rebuild replaces it."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rag.backends import Filter
from rag.lexical import K1, B
from rag.store import Changes, IndexMismatch
from rag.types import Article, Chunk
from tests.cluster.conftest import new_database

pytestmark = [pytest.mark.cluster]

FIELDS = {"model": "synthetic", "dimension": 8, "chunk_size": 1000, "chunk_overlap": 0, "embed_title": False,
          "embed_backend": "synthetic"}  # fmt: skip
OUTLETS = ["Alpha News", "Beta Post", "Gamma Times"]


def _corpus(n_articles: int = 300, start: int = 0, seed: int = 0) -> Changes:
    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(400)]
    articles, chunks = [], []
    for a in range(start, start + n_articles):
        kind = a % 5
        day = np.datetime64("2024-01-01") + int(rng.integers(0, 500))
        published = str(day)[:7] if kind == 3 else str(day)[:4] if kind == 4 else str(day)  # month, year or day
        parts = [" ".join(rng.choice(words, int(rng.integers(5, 40)), p=_zipf(len(words)))) for _ in range(3)]
        body = " ".join(parts)
        aid = f"https://t.example/{a}"
        articles.append(Article(aid, OUTLETS[a % 3], f"T{a}", published, aid, body, "t"))
        pos = 0
        for i, text in enumerate(parts):
            chunks.append(Chunk(aid, pos, pos + len(text), text, id=a * 3 + i))
            pos += len(text) + 1
    vecs = rng.standard_normal((len(chunks), 8)).astype(np.float32)
    return Changes([], articles, chunks, vecs / np.linalg.norm(vecs, axis=1, keepdims=True))


def _zipf(n: int) -> np.ndarray:
    p = 1.0 / np.arange(1, n + 1)
    return p / p.sum()


def _every_posting(backend, tokens: list[str], n: int, flt: Filter | None) -> list[tuple[int, float]]:
    """The reference: every posting scored, the filter read from rag_chunk_meta (no index range, no pruning)."""
    from rag.backends.postgres import _where

    where, params = _where(flt)
    rows = backend._rows(
        f"""WITH q AS (SELECT u.term, count(*) AS qtf FROM unnest(%s::text[]) AS u(term) GROUP BY u.term),
            st AS (SELECT n_docs::float8 AS n, total_len::float8 / greatest(n_docs, 1) AS avgdl FROM rag_stats)
        SELECT p.chunk_id, sum(q.qtf * (ln(1 + (st.n - t.df + 0.5) / (t.df + 0.5))
                    * p.tf / (p.tf + %s * (1 - %s + %s * c.len / st.avgdl)))::float4)::float4 AS score
        FROM q JOIN rag_terms t ON t.term = q.term JOIN rag_postings p ON p.term = q.term
               JOIN rag_chunk_meta c ON c.id = p.chunk_id CROSS JOIN st
        WHERE {where} GROUP BY p.chunk_id ORDER BY score DESC, p.chunk_id LIMIT %s""",  # noqa: S608
        [tokens, K1, B, B, *params, n],
    )
    return [(int(i), float(s)) for i, s in rows if s > 0]


def test_filtered_bm25_reads_slices_and_ranks_as_scoring_every_posting(pg_server, monkeypatch) -> None:
    from rag.backends import postgres
    from rag.backends.postgres import PostgresBackend

    monkeypatch.setattr(postgres, "_RARE_DF", 40)  # so that this small corpus has frequent terms to prune
    monkeypatch.setattr(postgres, "_PROBE_COST", 0)  # and skips some whenever it may, the candidates looked up
    calls: list[str] = []  # the path each lexical_top took
    full, holders = PostgresBackend._bm25, PostgresBackend._bm25_of_holders
    monkeypatch.setattr(PostgresBackend, "_bm25", lambda self, *a: calls.append("full") or full(self, *a))
    monkeypatch.setattr(
        PostgresBackend,
        "_bm25_of_holders",
        lambda self, *a: calls.append("probe" if a[-1] else "scan") or holders(self, *a),
    )
    dsn = new_database(pg_server, "bm25")
    first = PostgresBackend.apply(dsn, _corpus(), FIELDS, None)
    PostgresBackend.apply(dsn, _corpus(60, start=300, seed=1), FIELDS, first["generation"])  # an update too
    backend = PostgresBackend(dsn)
    try:
        assert backend._rows("SELECT max_span FROM rag_stats")[0][0] == 365  # the year-precision articles (2024)
        rng = np.random.default_rng(2)
        paths: set[tuple[str, ...]] = set()
        filters = [None, Filter.of(["beta post"]), Filter.of([], "2024-03-01", "2024-04-15"),
                   Filter.of(["alpha news", "gamma times"], "2024-06-10", None), Filter.of([], None, "2024-02-01"),
                   Filter.of(["beta post"], "2024-12-31", "2025-01-01"), Filter.of(["nobody"])]  # fmt: skip
        for _ in range(40):
            tokens = [f"w{int(i)}" for i in rng.choice(400, int(rng.integers(1, 6)), p=_zipf(400))]
            tokens += [f"w{int(rng.integers(200, 400))}"]  # a rarer term: the pruned path
            for flt in filters:
                for n in (3, 10):
                    with backend.session():
                        calls.clear()
                        got = backend.lexical_top(tokens, n, flt, {})
                        paths.add(tuple(calls))
                        want = _every_posting(backend, tokens, n, flt)
                        monkeypatch.setattr(postgres, "_PROBE_COST", 10**9)  # the candidates scanned for instead
                        calls.clear()
                        scanned = backend.lexical_top(tokens, n, flt, {})
                        paths.add(tuple(calls))
                        monkeypatch.setattr(postgres, "_PROBE_COST", 0)
                    assert got == want == scanned, (tokens, flt, n)
        # Every path taken: MaxScore final after one step, after its second step, failing; scanned candidates.
        assert {("probe",), ("probe", "probe"), ("probe", "full"), ("scan",), ("scan", "scan"), ("full",)} <= paths
    finally:
        backend.close()


def test_an_older_layout_asks_for_a_rebuild_and_a_rebuild_replaces_it(pg_server) -> None:
    import psycopg

    from rag.backends.postgres import PostgresBackend

    dsn = new_database(pg_server, "old")
    changes = _corpus(20)
    m = PostgresBackend.apply(dsn, changes, FIELDS, None)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "UPDATE rag_manifest SET manifest = %s::jsonb", [json.dumps({**m, "schema": 2})]
        )  # what a version of the older layout wrote
    with pytest.raises(IndexMismatch, match=r"table layout 2.*run `rag index --rebuild`") as opened:
        PostgresBackend(dsn)
    assert "\n" not in str(opened.value)
    with pytest.raises(IndexMismatch, match=r"table layout 2.*run `rag index --rebuild`") as updated:
        PostgresBackend.apply(dsn, _corpus(5, start=100), FIELDS, m["generation"])
    assert "\n" not in str(updated.value)
    rebuilt = Changes([a.id for a in changes.add_articles], changes.add_articles, changes.add_chunks,
                      changes.add_vectors)  # fmt: skip
    PostgresBackend.apply(dsn, rebuilt, FIELDS, m["generation"])
    backend = PostgresBackend(dsn)
    try:
        assert backend.chunk_count() == len(changes.add_chunks)
    finally:
        backend.close()
