"""BM25 in PostgreSQL from the term blocks (rag.backends.pg_blocks): the same top n, scores included, as a
reference computed here from the articles' own text, for day, month and year dates and every filter kind,
through a first build, additions inside and past the old blocks, removals, replacements and a rebuild; the
blocks hold exactly the corpus's postings and rag_terms its document frequencies; blocks that disagree with
the chunks stop an update in one line with nothing written; an index of an older table layout asks for a
rebuild, and a rebuild replaces it."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from rag.backends import Filter
from rag.lexical import K1, B, bm25_document
from rag.store import Changes, IndexMismatch
from rag.text.tokens import tokenize
from rag.types import Article, ArticleRef, Chunk
from tests.cluster.conftest import new_database

pytestmark = [pytest.mark.cluster]

FIELDS = {"model": "synthetic", "dimension": 8, "chunk_size": 1000, "chunk_overlap": 0, "embed_title": False,
          "embed_backend": "synthetic"}  # fmt: skip
OUTLETS = ["Alpha News", "Beta Post", "Gamma Times"]
FILTERS = [None, Filter.of(["beta post"]), Filter.of([], "2024-03-01", "2024-04-15"),
           Filter.of(["alpha news", "gamma times"], "2024-06-10", None), Filter.of([], None, "2024-02-01"),
           Filter.of(["beta post"], "2024-12-31", "2025-01-01"), Filter.of(["nobody"])]  # fmt: skip


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


class Reference:
    """What the index should hold, kept from the change sets applied: the chunks' tokens as `_insert` makes
    them, and BM25 over them computed in plain Python (float64 parts rounded to float32, summed in float32 over
    the query's tokens in order, as bm25s does), with each chunk's article for the filters."""

    def __init__(self) -> None:
        self.chunks: dict[int, tuple[ArticleRef, list[str]]] = {}

    def apply(self, changes: Changes) -> Changes:
        gone = set(changes.remove_articles)
        self.chunks = {i: c for i, c in self.chunks.items() if c[0].id not in gone}
        refs = {a.id: ArticleRef(a.id, a.outlet, a.title, a.published, a.url) for a in changes.add_articles}
        docs = [bm25_document(refs[c.article_id], c, True) for c in changes.add_chunks]
        for c, toks in zip(changes.add_chunks, tokenize(docs), strict=True):
            self.chunks[c.id] = (refs[c.article_id], toks)
        return changes

    def postings(self) -> set[tuple[str, int, int, int]]:
        return {(t, i, toks.count(t), len(toks)) for i, (_, toks) in self.chunks.items() for t in set(toks)}

    def df(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for _, toks in self.chunks.values():
            for t in set(toks):
                out[t] = out.get(t, 0) + 1
        return out

    def top(self, tokens: list[str], n: int, flt: Filter | None) -> list[tuple[int, float]]:
        df, n_docs = self.df(), len(self.chunks)
        avgdl = sum(len(t) for _, t in self.chunks.values()) / n_docs
        scores = {}
        for cid, (ref, toks) in self.chunks.items():
            if flt is not None and not flt.matches(ref):
                continue
            total, held = np.float32(0), False
            for t in tokens:
                tf = toks.count(t)
                if tf:
                    idf = math.log(1 + (float(n_docs) - df[t] + 0.5) / (df[t] + 0.5))
                    part = idf * tf / (tf + K1 * ((1 - B) + B * len(toks) / avgdl))
                    total, held = np.float32(total + np.float32(part)), True
            if held:
                scores[cid] = float(str(total))
        return sorted(scores.items(), key=lambda r: (-r[1], r[0]))[:n]


def _queries(seed: int = 3, count: int = 25) -> list[list[str]]:
    rng = np.random.default_rng(seed)
    out = [["w0", "w1", "w399"], ["w3", "w3", "w250"], ["w0", "w2", "w0", "w300"]]  # repeated tokens too
    for _ in range(count):
        tokens = [f"w{int(i)}" for i in rng.choice(400, int(rng.integers(1, 6)), p=_zipf(400))]
        out.append([*tokens, f"w{int(rng.integers(200, 400))}"])
    return out


def _spread(changes: Changes, stride: int, offset: int = 0) -> Changes:
    """The same change set with chunk ids spread `stride` apart, so that they fall in many blocks of 2^16 ids."""
    chunks = [Chunk(c.article_id, c.start, c.end, c.text, id=offset + c.id * stride) for c in changes.add_chunks]
    return Changes(changes.remove_articles, changes.add_articles, chunks, changes.add_vectors)


def _update(base: Changes, added: Changes, first_id: int) -> Changes:
    """An update of the index `base` built: `added` added, 20 of its articles removed, 10 replaced by other text
    (their new chunks numbered from `first_id` on)."""
    replaced = _corpus(10, start=0, seed=7)
    removed = [a.id for a in base.add_articles[100:120]]
    return Changes(
        removed + [a.id for a in replaced.add_articles],
        [*added.add_articles, *replaced.add_articles],
        [*added.add_chunks, *[Chunk(c.article_id, c.start, c.end, c.text, id=first_id + c.id)
                              for c in replaced.add_chunks]],
        np.concatenate([added.add_vectors, replaced.add_vectors]),
    )  # fmt: skip


def _holds(dsn: str, ref: Reference) -> int:
    """The blocks hold exactly the reference's postings (in id order, none empty, each in its own block, with
    its chunk's outlet and days) and rag_terms its document frequencies; returns the postings' count."""
    import psycopg

    from rag.backends.pg_blocks import _decode, chunk_days
    from rag.filters import date_bounds

    with psycopg.connect(dsn, autocommit=True) as conn:
        codes = dict(conn.execute("SELECT code, outlet_cf FROM rag_outlets").fetchall())
        got: set[tuple[str, int, int, int]] = set()
        for term, block, data, meta in conn.execute("SELECT term, block, data, meta FROM rag_term_blocks", binary=True):
            rows = _decode(int(block), bytes(data), bytes(meta))
            assert len(rows) and (np.diff(rows[:, 0]) > 0).all(), (term, block)
            assert ((rows[:, 0] >> 16) == block).all()
            for cid, tf, n, outlet, first, last in rows.tolist():
                art = ref.chunks[cid][0]
                assert codes[outlet] == art.outlet.casefold()
                assert (first, last) == chunk_days(*(date_bounds(art.published) or (None, None)))
                got.add((term, cid, tf, n))
        df = dict(conn.execute("SELECT term, df FROM rag_terms").fetchall())
    want = ref.postings()
    assert got == want, (len(got - want), len(want - got))
    assert df == ref.df()
    return len(got)


def _ranks_as_reference(dsn: str, ref: Reference, queries: list[list[str]]) -> int:
    from rag.backends.postgres import PostgresBackend

    backend = PostgresBackend(dsn)
    checked = 0
    try:
        for tokens in queries:
            for flt in FILTERS:
                for n in (1, 3, 10, 60):
                    with backend.session():
                        got = backend.lexical_top(tokens, n, flt, {})
                    assert got == ref.top(tokens, n, flt), (tokens, flt, n)
                    checked += bool(got)
    finally:
        backend.close()
    return checked


def test_bm25_ranks_as_the_reference_and_the_blocks_stay_in_step_through_updates(pg_server) -> None:
    import psycopg

    from rag.backends.postgres import PostgresBackend

    dsn = new_database(pg_server, "bm25")
    ref = Reference()
    base = ref.apply(_spread(_corpus(), 1500))  # 900 chunks over ~20 blocks
    m = PostgresBackend.apply(dsn, base, FIELDS, None)
    with psycopg.connect(dsn, autocommit=True) as conn:
        assert conn.execute("SELECT max_span FROM rag_stats").fetchone()[0] == 365  # the year-precision articles
    assert _holds(dsn, ref) > 1000
    assert _ranks_as_reference(dsn, ref, _queries()) > 400
    # An update: 60 articles added (ids inside old blocks and past them), 20 removed, 10 replaced by other text.
    added = _spread(_corpus(60, start=300, seed=1), 777, offset=600_001)
    m = PostgresBackend.apply(dsn, ref.apply(_update(base, added, 2_000_001)), FIELDS, m["generation"])
    _holds(dsn, ref)
    assert _ranks_as_reference(dsn, ref, _queries(seed=5)) > 400
    # Removing every article of one outlet empties some blocks: they are deleted, not left empty.
    with psycopg.connect(dsn, autocommit=True) as conn:
        gone = [r[0] for r in conn.execute("SELECT id FROM rag_articles WHERE outlet = 'Beta Post'").fetchall()]
    empty = np.zeros((0, 8), np.float32)
    m = PostgresBackend.apply(dsn, ref.apply(Changes(gone, [], [], empty)), FIELDS, m["generation"])
    _holds(dsn, ref)
    # A rebuild (every article replaced) writes every block anew.
    with psycopg.connect(dsn, autocommit=True) as conn:
        ids = [r[0] for r in conn.execute("SELECT id FROM rag_articles").fetchall()]
    every = _corpus(150, seed=2)
    rebuilt = Changes(ids, every.add_articles, every.add_chunks, every.add_vectors)
    PostgresBackend.apply(dsn, ref.apply(rebuilt), FIELDS, m["generation"])
    assert _holds(dsn, ref) > 500
    assert _ranks_as_reference(dsn, ref, _queries(seed=4, count=10)) > 100


def test_ties_at_the_nth_score_rank_by_chunk_id(pg_server) -> None:
    """Many chunks with the same text (the same score): the lowest chunk ids are kept, also when the tie
    straddles the n-th place."""
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
    ref = Reference()
    PostgresBackend.apply(dsn, ref.apply(Changes([], articles, chunks, vecs)), FIELDS, None)
    backend = PostgresBackend(dsn)
    try:
        for n in (5, 17, 40):
            for flt in (None, Filter.of(["alpha news"])):
                got = backend.lexical_top(["w1", "w2", "w390"], n, flt, {})
                assert got == ref.top(["w1", "w2", "w390"], n, flt)
                assert len({s for _, s in got}) < len(got)  # ties in it
    finally:
        backend.close()


def test_blocks_that_disagree_with_the_chunks_stop_an_update_with_nothing_written(pg_server) -> None:
    """A block that lost a posting (a damaged index, or one another tokenizer wrote): removing that chunk's
    article is refused in one line that says to rebuild, and the index is left as it was."""
    import psycopg

    from rag.backends.pg_blocks import _decode, _encode
    from rag.backends.postgres import PostgresBackend

    dsn = new_database(pg_server, "damaged")
    changes = _corpus(40)
    m = PostgresBackend.apply(dsn, changes, FIELDS, None)
    victim = changes.add_articles[5]
    first = next(c.id for c in changes.add_chunks if c.article_id == victim.id)
    with psycopg.connect(dsn, autocommit=True) as conn:
        term, block, data, meta = conn.execute(
            "SELECT term, block, data, meta FROM rag_term_blocks WHERE block = %s ORDER BY term LIMIT 1",
            [first >> 16],
            binary=True,
        ).fetchone()
        rows = _decode(int(block), bytes(data), bytes(meta))
        hit = rows[:, 0] == first
        if not hit.any():  # the first term in this block may not be in the chunk: take one that is
            term = tokenize([bm25_document(victim, changes.add_chunks[first], True)])[0][0]
            data, meta = conn.execute("SELECT data, meta FROM rag_term_blocks WHERE term = %s AND block = %s",
                                      [term, int(block)], binary=True).fetchone()  # fmt: skip
            rows = _decode(int(block), bytes(data), bytes(meta))
            hit = rows[:, 0] == first
        assert hit.any()
        conn.execute("UPDATE rag_term_blocks SET data = %s, meta = %s WHERE term = %s AND block = %s",
                     [*_encode(rows[~hit]), term, int(block)])  # fmt: skip
    before = PostgresBackend.current(dsn)
    with pytest.raises(IndexMismatch, match=r"do not match its chunks.*run `rag index --rebuild`") as refused:
        PostgresBackend.apply(dsn, Changes([victim.id], [], [], np.zeros((0, 8), np.float32)), FIELDS,
                              m["generation"])  # fmt: skip
    assert "\n" not in str(refused.value)
    assert PostgresBackend.current(dsn) == before


def test_a_block_round_trips_with_16_bit_values_and_with_wider_ones() -> None:
    from rag.backends.pg_blocks import UNDATED, _decode, _encode

    for top in (7, 65_535, 70_000):  # the last needs 32-bit tfs, lengths and outlet codes
        rows = np.array([[5 * 65_536 + 3, 1, 12, 0, 20240101, 20240131], [5 * 65_536 + 9, 4, top, top, *UNDATED],
                         [6 * 65_536 - 1, top, top, 3, 20231231, 20231231]])  # fmt: skip
        data, meta = _encode(rows)
        assert data[0] == (2 if top < 65_536 else 4) and len(data) == 1 + 3 * (2 + 2 * data[0])
        assert meta[0] == (2 if top < 65_536 else 4) and len(meta) == 1 + 3 * (meta[0] + 8)
        assert (_decode(5, data, meta) == rows).all()


def test_day_keys_order_as_the_iso_strings_do() -> None:
    from rag.backends.pg_blocks import day_key

    days = ["2023-12-31", "2024-01-01", "2024-01-31", "2024-02-01", "2024-12-31"]
    bounds = ["2023", "2024", "2024-01", "2024-02", "2024-01-31", "2025"]
    for d in days:
        for b in bounds:
            assert (day_key(d) <= day_key(b)) == (d <= b) and (day_key(d) >= day_key(b)) == (d >= b), (d, b)
    assert day_key("yesterday") is None and day_key(None) is None


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


def test_hnsw_is_built_over_half_precision_vectors_and_scores_stay_full(pg_server) -> None:
    """A new HNSW index is over embedding::halfvec (half the size); the search goes through it, and the scores
    it returns are the stored full-precision inner products. An index an earlier version built at full precision
    is kept through updates and searched as such."""
    import psycopg

    from rag.backends.postgres import PostgresBackend, connect

    changes = _corpus(400, seed=5)
    dsn = new_database(pg_server, "half")
    m = PostgresBackend.apply(dsn, changes, FIELDS, None, ann_threshold=100)
    assert m["vector_index"] == {"type": "hnsw", "precision": "half"}
    vecs = np.asarray(changes.add_vectors)
    row = {c.id: i for i, c in enumerate(changes.add_chunks)}
    rng = np.random.default_rng(6)

    def searched(backend: PostgresBackend, index: str) -> float:
        """Recall@10 of dense top 10 over 10 queries; checks the scores and that `index` is what is searched."""
        found = 0
        for _ in range(10):
            q = rng.standard_normal(8).astype(np.float32)
            got = backend.dense_top(q, 10, None, {})
            assert np.allclose([s for _, s in got], vecs[[row[c] for c, _ in got]] @ q, atol=1e-6)
            found += len({c for c, _ in got} & {changes.add_chunks[i].id for i in np.argsort(-(vecs @ q))[:10]})
        with connect(dsn) as conn:
            conn.execute("SET enable_seqscan = off")  # 1,200 rows: make the planner show the index it would use
            plan = conn.execute(
                f"EXPLAIN SELECT c.id FROM rag_chunks c ORDER BY {backend._order} LIMIT 10",  # noqa: S608
                [q],
            ).fetchall()
        assert index in " ".join(r[0] for r in plan)
        return found / 100

    backend = PostgresBackend(dsn)
    try:
        assert searched(backend, "rag_chunks_hnsw_half") >= 0.9
    finally:
        backend.close()
    with psycopg.connect(dsn, autocommit=True) as conn:  # as an earlier version left it
        conn.execute("DROP INDEX rag_chunks_hnsw_half")
        conn.execute("CREATE INDEX rag_chunks_hnsw ON rag_chunks USING hnsw (embedding vector_ip_ops)")
    added = _corpus(20, start=400, seed=8)
    m = PostgresBackend.apply(dsn, added, FIELDS, m["generation"], ann_threshold=100)
    assert m["vector_index"] == {"type": "hnsw", "precision": "full"}
    vecs = np.concatenate([vecs, added.add_vectors])
    changes = Changes([], [], [*changes.add_chunks, *added.add_chunks], vecs)
    row = {c.id: i for i, c in enumerate(changes.add_chunks)}
    backend = PostgresBackend(dsn)
    try:
        assert searched(backend, "rag_chunks_hnsw") >= 0.9
    finally:
        backend.close()
