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
    """The reference: every posting of the query terms inside the filter (read through rag_chunk_meta: no index
    range, no pruning), each term's part rounded to float32, summed in float32 over the query's tokens in order
    (a repeated token each time) as bm25s does; ties by chunk id."""
    from rag.backends.postgres import _where

    where, params = _where(flt)
    rows = backend._rows(
        f"""WITH st AS (SELECT n_docs::float8 AS n, total_len::float8 / greatest(n_docs, 1) AS avgdl FROM rag_stats)
        SELECT p.chunk_id, p.term, (ln(1 + (st.n - t.df + 0.5) / (t.df + 0.5))
                    * p.tf / (p.tf + %s * (1 - %s + %s * c.len / st.avgdl)))::float4
        FROM rag_terms t JOIN rag_postings p ON p.term = t.term
               JOIN rag_chunk_meta c ON c.id = p.chunk_id CROSS JOIN st
        WHERE t.term = ANY(%s) AND {where}""",  # noqa: S608
        [K1, B, B, sorted(set(tokens)), *params],
    )
    parts: dict[int, dict[str, float]] = {}
    for cid, term, part in rows:
        parts.setdefault(int(cid), {})[term] = part
    scores = {}
    for cid, of in parts.items():
        total = np.float32(0)
        for t in tokens:
            if t in of:
                total = np.float32(total + np.float32(of[t]))
        scores[cid] = float(str(total))  # as PostgreSQL prints a float4 (shortest exact digits) and psycopg reads it
    ranked = sorted(scores.items(), key=lambda r: (-r[1], r[0]))[:n]
    return [(c, s) for c, s in ranked if s > 0]


def test_maxscore_bm25_ranks_as_scoring_every_posting_with_ties_and_filters(pg_server, monkeypatch) -> None:
    """MaxScore (`lexical_top`: the rarest terms read in full, the others looked up only for the chunks that can
    still reach the top n) gives exactly the top n of scoring every posting: same chunks, same scores, ties by
    chunk id, under every filter kind; and so does each pruned pass that claims a proof, whichever terms it reads
    in full, while the passes that cannot prove it say so."""
    from rag.backends import postgres
    from rag.backends.postgres import PostgresBackend, _where_postings
    from rag.lexical import idf

    calls: list[str] = []  # the path each lexical_top took
    full, pruned = PostgresBackend._bm25, PostgresBackend._bm25_pruned

    def spy_pruned(self, *a):  # noqa: ANN001, ANN202
        out = pruned(self, *a)
        calls.append("proved" if out[1] is not None else "unproved")
        return out

    monkeypatch.setattr(PostgresBackend, "_bm25", lambda self, *a: calls.append("full") or full(self, *a))
    monkeypatch.setattr(PostgresBackend, "_bm25_pruned", spy_pruned)
    dsn = new_database(pg_server, "bm25")
    first = PostgresBackend.apply(dsn, _corpus(), FIELDS, None)
    PostgresBackend.apply(dsn, _corpus(60, start=300, seed=1), FIELDS, first["generation"])  # an update too
    backend = PostgresBackend(dsn)
    try:
        n_docs, max_span = backend._rows("SELECT n_docs, max_span FROM rag_stats")[0]
        assert max_span == 365  # the year-precision articles (2024)
        rng = np.random.default_rng(2)
        paths: set[tuple[str, ...]] = set()
        proofs = {True: 0, False: 0}
        filters = [None, Filter.of(["beta post"]), Filter.of([], "2024-03-01", "2024-04-15"),
                   Filter.of(["alpha news", "gamma times"], "2024-06-10", None), Filter.of([], None, "2024-02-01"),
                   Filter.of(["beta post"], "2024-12-31", "2025-01-01"), Filter.of(["nobody"])]  # fmt: skip
        queries = [["w0", "w1", "w399"], ["w3", "w3", "w250"], ["w0", "w2", "w0", "w300"]]  # repeated tokens too
        for _ in range(30):
            tokens = [f"w{int(i)}" for i in rng.choice(400, int(rng.integers(1, 6)), p=_zipf(400))]
            queries.append([*tokens, f"w{int(rng.integers(200, 400))}"])  # a rarer term: something to prune with
        for tokens in queries:
            df = {t: d for t, d in backend.term_stats(tokens).items() if d}
            terms = sorted(df, key=lambda t: (df[t], t))
            for flt in filters:
                where, params = _where_postings(flt, max_span)
                for n in (3, 10):
                    want = _every_posting(backend, tokens, n, flt)
                    for cost in (0, 8, 10**9):  # how many terms lexical_top reads in full: fewest, its choice, all
                        monkeypatch.setattr(postgres, "_PROBE_COST", cost)
                        with backend.session():
                            calls.clear()
                            got = backend.lexical_top(tokens, n, flt, {})
                            paths.add(tuple(calls))
                        assert got == want, (tokens, flt, n, cost, calls)
                    for k in range(1, len(terms)):  # each pruned pass alone, whatever it reads in full
                        bound = sum(tokens.count(t) * idf(df[t], n_docs) for t in terms[k:])
                        for first_scored in (1, 2):
                            monkeypatch.setattr(postgres, "_FIRST_SCORED", first_scored)
                            with backend.session():
                                rows, floor = pruned(backend, tokens, n, where, params, terms[:k], bound, {})
                            proofs[floor is not None] += 1
                            if floor is not None:
                                assert rows == want, (tokens, flt, n, terms[:k], first_scored)
        assert proofs[True] > 100 and proofs[False] > 100, proofs
        # Paths taken: proved at once, proved after making one more term essential, every posting scored after
        # passes that could not prove it, and every posting scored at once.
        assert {("proved",), ("unproved", "proved"), ("unproved", "unproved", "full"), ("full",)} <= paths, paths
    finally:
        backend.close()


def test_ties_at_the_nth_score_rank_by_chunk_id_on_the_pruned_path(pg_server, monkeypatch) -> None:
    """Many chunks with the same text (the same score): the pruned path keeps the lowest chunk ids, as scoring
    every posting does, also when the tie straddles the n-th place."""
    from rag.backends import postgres
    from rag.backends.postgres import PostgresBackend

    rng = np.random.default_rng(5)
    words = [f"w{i}" for i in range(400)]
    articles, chunks = [], []
    for a in range(120):
        text = "w1 w2 w2 w390" if a % 3 == 0 else " ".join(rng.choice(words, 20, p=_zipf(400)))
        aid = f"https://tie.example/{a}"
        articles.append(Article(aid, OUTLETS[a % 3], "T", "2024-05-01", aid, text, "t"))
        chunks.append(Chunk(aid, 0, len(text), text, id=a))
    vecs = rng.standard_normal((len(chunks), 8)).astype(np.float32)
    dsn = new_database(pg_server, "ties")
    PostgresBackend.apply(dsn, Changes([], articles, chunks, vecs), FIELDS, None)
    backend = PostgresBackend(dsn)
    monkeypatch.setattr(postgres, "_PROBE_COST", 0)  # the rarest term alone read in full, when it can prove
    try:
        for n in (5, 17, 40):
            for flt in (None, Filter.of(["alpha news"])):
                want = _every_posting(backend, ["w1", "w2", "w390"], n, flt)
                got = backend.lexical_top(["w1", "w2", "w390"], n, flt, {})
                assert got == want
                assert len({s for _, s in got}) < len(got)  # ties in it
    finally:
        backend.close()


def test_dense_under_a_selective_filter_is_exact_over_its_rows(pg_server, monkeypatch) -> None:
    """With the HNSW index, a filter leaving few chunks is searched exactly (the same top n as numpy over the
    filtered vectors), for an outlet, a window (month and year dates too) and both; a wide filter uses HNSW."""
    from rag.backends import postgres
    from rag.backends.postgres import PostgresBackend

    changes = _corpus(400, seed=3)
    dsn = new_database(pg_server, "dense")
    m = PostgresBackend.apply(dsn, changes, FIELDS, None, ann_threshold=100)
    assert m["vector_index"]["type"] == "hnsw"
    backend = PostgresBackend(dsn)
    exact: list[Filter] = []
    real = PostgresBackend._dense_exact
    monkeypatch.setattr(PostgresBackend, "_dense_exact", lambda self, q, n, flt, memo: exact.append(flt)
                        or real(self, q, n, flt, memo))  # fmt: skip
    monkeypatch.setattr(postgres, "_EXACT_ROWS", 450)
    monkeypatch.setattr(postgres, "_EXACT_LOOKUPS", 450)
    arts = {a.id: a for a in changes.add_articles}
    vecs = np.asarray(changes.add_vectors)
    rng = np.random.default_rng(4)
    try:
        filters = [Filter.of(["beta post"]), Filter.of([], "2024-03-01", "2024-04-15"),
                   Filter.of(["alpha news", "gamma times"], "2024-06-10", "2024-09-01"),
                   Filter.of(["beta post"], "2024-12-31", "2025-01-01")]  # fmt: skip
        for flt in filters:
            allowed = np.array([i for i, c in enumerate(changes.add_chunks) if flt.matches(arts[c.article_id])])
            assert 0 < len(allowed) <= 450, (flt, len(allowed))
            for _ in range(5):
                q = rng.standard_normal(8).astype(np.float32)
                want = allowed[np.argsort(-(vecs[allowed] @ q), kind="stable")[:10]]
                got = backend.dense_top(q, 10, flt, {})
                assert [c for c, _ in got] == [changes.add_chunks[i].id for i in want], flt
                assert np.allclose([s for _, s in got], vecs[want] @ q, atol=1e-5)
        assert exact == [f for f in filters for _ in range(5)]
        exact.clear()
        wide = Filter.of(["beta post", "gamma times"], "2024-01-01")
        assert len(backend.dense_top(rng.standard_normal(8).astype(np.float32), 10, wide, {})) == 10
        assert exact == []  # ~800 chunks: more than the exact path takes, HNSW
    finally:
        backend.close()
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:  # an index written before the filter indexes existed
        conn.execute("DROP INDEX rag_chunk_meta_day")
    older = PostgresBackend(dsn)
    try:
        assert len(older.dense_top(rng.standard_normal(8).astype(np.float32), 10, filters[0], {})) == 10
        assert exact == []  # HNSW: no table scans to count or read the filter's rows
    finally:
        older.close()


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
