"""The PostgreSQL backend: chunks with pgvector vectors, articles, BM25 postings and the manifest as a row.

Tables (all prefixed `rag_`):

    rag_manifest  one row: the manifest (model, dimension, chunking, generation, built_at, …) as JSON
    rag_articles  id, outlet, title, published, url, body, source, hash
    rag_chunks    id, article_id, start, end, outlet_cf, first_day, last_day (the article's date bounds),
                  len (BM25 tokens), embedding vector(d)  — HNSW (vector_ip_ops) from `ann_threshold` rows
    rag_postings  chunk_id, tf, len, term, outlet_cf, first_day, last_day — the project's own tokenizer
                  (rag.lexical), computed in Python; the chunk's length and filter columns copied onto each posting,
                  covering indexes by (term, outlet_cf, first_day), (term, first_day) and (chunk_id, term)
    rag_terms     term, df                    — kept in step with the postings by every update
    rag_chunk_terms chunk_id, len, tfs (jsonb {term: tf}) — each chunk's terms in one small row (~1.6 KB), written
                  with the postings by every update of an index a full build made it for (manifest `bm25.forward`):
                  BM25 completes a candidate's score from it, one cached lookup per chunk (`_LOOKUP_FORWARD`)
    rag_stats     n_docs, total_len, max_span — BM25's N and average document length; the widest date range

Lexical ranking is BM25 computed in SQL from the stored tf, df and lengths with bm25s's formula and
constants (rag.lexical), so both backends rank alike (PostgreSQL's ts_rank is not BM25). Dense ranking is
`ORDER BY embedding <#> q`: exact (a scan) below `ann_threshold` chunks, like the local backend, HNSW with
iterative scans above (so a selective outlet/date filter still returns k rows).

Every statement is parameterised. An update (`apply`) is one transaction that also replaces the manifest
row, under an advisory lock: readers see the old index or the new one. Each search runs in one
REPEATABLE READ, READ ONLY transaction (`session`), so its several queries read one snapshot. Reads go
to `pg_replica_dsn` when it is set.
"""

from __future__ import annotations

import contextlib
import json
import queue
import secrets
import threading
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np

from rag import __version__
from rag.backends import ChunkRow, Filter, pg_blocks, register
from rag.filters import date_bounds
from rag.lexical import K1, B, bm25_document
from rag.lexical import idf as lexical_idf
from rag.sentence_vectors import SentenceVectors
from rag.store import FORMAT_VERSION, Changes, IndexMismatch, IndexNotFound, IndexProblem
from rag.text.tokens import tokenize
from rag.types import Article, ArticleRef, Chunk

_LOCK_KEY = 0x7261_6700  # pg_advisory_xact_lock key of the index writer ("rag")
_POOL = 8
#: Table layout version, in the manifest row: another one is refused with "rebuild".
SCHEMA_VERSION = 3
#: Cost of looking up one posting by (chunk, term), in postings read in a row and summed (measured ~8 at 200,000
#: chunks: ~5 µs against ~0.6 µs): BM25 (`lexical_top`) reads the rarest terms' postings in full and looks the others
#: up for the chunks that can still reach the top n, choosing how many to read by this.
_PROBE_COST = 8
#: How many of the best partly scored chunks are scored in full first, for a higher n-th score to prune with.
_FIRST_SCORED = 2
#: Below this many chunks inside a filter (or a share of them), dense search under it is an exact scan over them
#: rather than HNSW (whose iterative scan walks far through the graph to find a few rows, and misses some).
_EXACT_ROWS = 25_000
#: The same for a date window alone, whose rows are spread over the table (each looked up by id: ~3 µs a row).
_EXACT_LOOKUPS = 3_000


class DatabaseUnavailable(IndexProblem):
    """The server cannot be reached or refused us; the message says what to do."""


def _redact(dsn: str) -> str:
    """The DSN without its password, for messages."""
    try:
        from psycopg.conninfo import conninfo_to_dict

        d: dict[str, Any] = conninfo_to_dict(dsn)
    except Exception:  # noqa: BLE001 - not parseable: say nothing of it
        return "the configured server"
    host, port, db = d.get("host", "localhost"), d.get("port", "5432"), d.get("dbname", "")
    return f"{d.get('user', '') + '@' if d.get('user') else ''}{host}:{port}/{db}"


def connect(dsn: str | None, create_extension: bool = False, **kwargs: Any):  # noqa: ANN201 - a psycopg.Connection
    """A connection with pgvector's types, or `DatabaseUnavailable` with a one-line message."""
    try:
        import psycopg
        from pgvector.psycopg import register_vector
    except ImportError:
        raise DatabaseUnavailable("the postgres backend needs the cluster extra: pip install -e '.[cluster]'") from None
    if not dsn:
        raise DatabaseUnavailable("RAG_BACKEND=postgres needs RAG_PG_DSN (e.g. postgresql://user@127.0.0.1:5432/rag)")
    try:
        conn = psycopg.connect(dsn, connect_timeout=5, **kwargs)
    except psycopg.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DatabaseUnavailable(
            f"cannot connect to PostgreSQL at {_redact(dsn)} ({first}); check RAG_PG_DSN and that the server is "
            "running and reachable"
        ) from None
    try:
        if create_extension:
            with conn.cursor() as cur:
                cur.execute("CREATE EXTENSION IF NOT EXISTS vector")
            conn.commit()
        register_vector(conn)
    except psycopg.Error as exc:
        conn.rollback()
        row = conn.execute("SELECT to_regclass('rag_manifest') IS NULL").fetchone()  # one row, never None
        no_index = row is None or row[0]
        conn.close()
        if no_index:  # a database nothing was indexed into yet (pgvector is created by the first `rag index`)
            raise IndexNotFound(
                f"no index in PostgreSQL at {_redact(dsn)}: run `rag index` with RAG_BACKEND=postgres"
            ) from None
        raise DatabaseUnavailable(
            f"PostgreSQL at {_redact(dsn)} has no usable pgvector extension ({str(exc).strip().splitlines()[0]}); "
            "install pgvector on the server or ask its administrator to `CREATE EXTENSION vector`"
        ) from None
    return conn


def _schema(dimension: int) -> list[str]:
    return [
        "CREATE TABLE IF NOT EXISTS rag_manifest (id int PRIMARY KEY CHECK (id = 1), manifest jsonb NOT NULL)",
        """CREATE TABLE IF NOT EXISTS rag_articles (
            id text PRIMARY KEY, outlet text NOT NULL, title text NOT NULL, published text NOT NULL,
            url text NOT NULL, body text NOT NULL, source text NOT NULL, hash text NOT NULL)""",
        f"""CREATE TABLE IF NOT EXISTS rag_chunks (
            id bigint PRIMARY KEY, article_id text NOT NULL REFERENCES rag_articles(id) ON DELETE CASCADE,
            start int NOT NULL, "end" int NOT NULL, outlet_cf text NOT NULL, first_day text, last_day text,
            len int NOT NULL, embedding vector({int(dimension)}) NOT NULL)""",
        "CREATE INDEX IF NOT EXISTS rag_chunks_article ON rag_chunks (article_id)",
        # A narrow copy of what BM25 and the filters read per chunk: scanning it never touches the vectors.
        """CREATE TABLE IF NOT EXISTS rag_chunk_meta (
            id bigint PRIMARY KEY, article_id text NOT NULL REFERENCES rag_articles(id) ON DELETE CASCADE,
            outlet_cf text NOT NULL, first_day text, last_day text, len int NOT NULL)""",
        # How many chunks a filter leaves, counted by index-only range scans (the dense search's exact path).
        "CREATE INDEX IF NOT EXISTS rag_chunk_meta_outlet ON rag_chunk_meta (outlet_cf, first_day) INCLUDE (last_day)",
        "CREATE INDEX IF NOT EXISTS rag_chunk_meta_day ON rag_chunk_meta (first_day) INCLUDE (last_day)",
        # An outlet (and window) as one index range of `rag_chunks`: the exact dense scan under such a filter reads
        # only its rows, which a first build writes in (outlet, first day) order (`_insert`), so they are few pages.
        "CREATE INDEX IF NOT EXISTS rag_chunks_outlet_day ON rag_chunks (outlet_cf, first_day)",
        "DROP INDEX IF EXISTS rag_chunks_outlet",  # the one-column index it replaces
        # One row per (term, chunk) with the chunk's BM25 length and filter columns, so that BM25 under a filter
        # reads only the postings inside it (`_POSTINGS_INDEXES`, made after the first COPY) and joins nothing.
        """CREATE TABLE IF NOT EXISTS rag_postings (
            chunk_id bigint NOT NULL, tf int NOT NULL, len int NOT NULL, term text NOT NULL,
            outlet_cf text NOT NULL, first_day text, last_day text)""",
        "CREATE TABLE IF NOT EXISTS rag_terms (term text PRIMARY KEY, df int NOT NULL)",
        # The vectors of a chunk's sentences (rag.sentence_vectors): its sentence spans (start, end, start, …)
        # and one float16 array of their vectors, read only for the few chunks an answer quotes from.
        """CREATE TABLE IF NOT EXISTS rag_sentences (
            chunk_id bigint PRIMARY KEY REFERENCES rag_chunks(id) ON DELETE CASCADE,
            spans int4[] NOT NULL, vectors bytea NOT NULL)""",
        # max_span: the most days between a chunk's first_day and last_day (0 when every article has a day), so
        # that a date window [since, until] is the index range first_day in [since − max_span, until].
        """CREATE TABLE IF NOT EXISTS rag_stats (
            id int PRIMARY KEY CHECK (id = 1), n_docs bigint NOT NULL, total_len bigint NOT NULL,
            max_span int NOT NULL DEFAULT 0)""",
    ]


#: The postings' indexes, each covering what BM25 reads (index-only scans): by term and outlet then day (an
#: outlet filter, with or without a window), by term then day (a window, or no filter), and by chunk (the
#: scoring of given chunks, and deletes). Built after the COPY when the table was empty (a first build).
_POSTINGS_INDEXES = [
    "CREATE UNIQUE INDEX IF NOT EXISTS rag_postings_pkey ON rag_postings (chunk_id, term) INCLUDE (tf, len)",
    "CREATE INDEX IF NOT EXISTS rag_postings_outlet ON rag_postings (term, outlet_cf, first_day) "
    "INCLUDE (last_day, chunk_id, tf, len)",
    "CREATE INDEX IF NOT EXISTS rag_postings_day ON rag_postings (term, first_day) "
    "INCLUDE (last_day, chunk_id, tf, len)",
]
#: Each chunk's terms with their tf (and its BM25 length) in one row: jsonb, whose object keys are looked up by
#: binary search, so a chunk's tf of a query term is one probe of a small table (~1 GB per million chunks, which
#: stays in the page cache) instead of one random read per chunk and term into the postings (23 GB per million).
#: Rows stay uncompressed and inline (toast_tuple_target), so a lookup never decompresses or reads a TOAST table;
#: the tfs are JSON strings ("2"), a byte each where a JSON number takes 8–11.
#: Made only by a full build (every article written in that transaction): an index without it (written before it
#: existed) keeps the postings lookups until then.
_FORWARD_TABLE = """CREATE TABLE IF NOT EXISTS rag_chunk_terms (
    chunk_id bigint PRIMARY KEY, len int NOT NULL, tfs jsonb NOT NULL) WITH (toast_tuple_target = 8160)"""
#: Every table of the index, in an order `DROP TABLE … CASCADE` can take.
_TABLES = ("rag_term_blocks", "rag_chunk_terms", "rag_postings", "rag_terms", "rag_sentences", "rag_chunk_meta",
           "rag_chunks", "rag_articles", "rag_stats", "rag_manifest")  # fmt: skip


def _where(flt: Filter | None, alias: str = "c") -> tuple[str, list[Any]]:
    """SQL condition and parameters for a filter over `rag_chunks` (never any value in the SQL text)."""
    if flt is None:
        return "TRUE", []
    if flt.empty:
        return "FALSE", []
    parts: list[str] = []
    params: list[Any] = []
    if flt.outlets is not None:
        parts.append(f"{alias}.outlet_cf = ANY(%s)")
        params.append(list(flt.outlets))
    if flt.since:
        parts.append(f"{alias}.last_day >= %s")
        params.append(flt.since)
    if flt.until:
        parts.append(f"{alias}.first_day <= %s")
        params.append(flt.until)
    return " AND ".join(parts) or "TRUE", params


def _where_postings(flt: Filter | None, max_span: int, alias: str = "p") -> tuple[str, list[Any]]:
    """`_where` over the postings' own filter columns (alias `p`; or any table with them), plus, for a window,
    the redundant lower bound first_day ≥ since − max_span that makes it an index range. Exact: a chunk with
    last_day ≥ since has either first_day = last_day (≥ since) or an ISO month/year range of at most max_span
    days ending on or after since."""
    where, params = _where(flt, alias)
    if flt is not None and not flt.empty and flt.since:
        low = _days_before(flt.since, max_span)
        if low is not None:
            where += f" AND {alias}.first_day >= %s"
            params.append(low)
    return where, params


def _days_before(day: str, days: int) -> str | None:
    """The ISO day `days` before `day`, or None when `day` is no ISO day (then no bound is added)."""
    try:
        if len(day) != 10:
            return None
        return (date.fromisoformat(day) - timedelta(days=days)).isoformat()
    except (ValueError, OverflowError):
        return None


def _span(first: str | None, last: str | None) -> int:
    """Days between a chunk's first and last day (huge when they are not ISO days: no window bound then)."""
    if first is None or last is None or first == last:
        return 0
    try:
        return max(0, (date.fromisoformat(last) - date.fromisoformat(first)).days)
    except ValueError:
        return 10**7


class _Pool:
    """A few connections to one server, handed out per session (thread-safe)."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self._free: queue.LifoQueue = queue.LifoQueue()
        self._made = 0
        self._lock = threading.Lock()

    def get(self):  # noqa: ANN201
        try:
            return self._free.get_nowait()
        except queue.Empty:
            pass
        with self._lock:
            if self._made < _POOL:
                self._made += 1
                try:
                    # Autocommit: each session sends its own BEGIN with the isolation level it needs.
                    return connect(self.dsn, autocommit=True)
                except BaseException:
                    self._made -= 1
                    raise
        return self._free.get(timeout=60)

    def put(self, conn) -> None:  # noqa: ANN001
        if conn.closed:
            with self._lock:
                self._made -= 1
            return
        self._free.put(conn)

    def close(self) -> None:
        while True:
            try:
                self._free.get_nowait().close()
            except queue.Empty:
                return


class PostgresBackend:
    """Search (and updates) over the index in one PostgreSQL database."""

    name = "postgres"

    def __init__(self, dsn: str, replica_dsn: str | None = None, model: str | None = None) -> None:
        self.dsn = dsn
        # Fail now, with the one-line message, rather than at the first question.
        connect(replica_dsn or dsn, autocommit=True).close()
        self._reads = _Pool(replica_dsn or dsn)
        self._local = threading.local()
        manifest = self._read_manifest()
        if manifest is None:
            raise IndexNotFound(f"no index in PostgreSQL at {_redact(dsn)}: run `rag index` with RAG_BACKEND=postgres")
        if model is not None and manifest.get("model") != model:
            raise IndexMismatch(
                f"the index was built with model '{manifest.get('model')}' but the settings ask for '{model}'; "
                "run `rag index --rebuild` to build a fresh index"
            )
        if manifest.get("schema") != SCHEMA_VERSION:
            raise IndexMismatch(
                f"the index in PostgreSQL at {_redact(dsn)} has table layout {manifest.get('schema', 1)}, this version "
                f"reads {SCHEMA_VERSION}; run `rag index --rebuild` with RAG_BACKEND=postgres"
            )
        self._manifest = manifest
        # The exact dense path counts and reads a filter's rows through indexes an index written before them
        # lacks until its next update (`_schema` adds them): without them it would scan whole tables.
        self._exact_dense = bool(
            self._rows(
                "SELECT to_regclass('rag_chunk_meta_day') IS NOT NULL AND to_regclass('rag_chunk_meta_outlet') "
                "IS NOT NULL AND to_regclass('rag_chunks_outlet_day') IS NOT NULL"
            )[0][0]
        )
        # BM25 completes candidates from rag_chunk_terms when the index has it complete (`apply`), else (an index
        # written before it existed, until its next full build) from the postings, as before.
        self._forward = (manifest.get("bm25") or {}).get("forward") is True and bool(
            self._rows("SELECT to_regclass('rag_chunk_terms') IS NOT NULL")[0][0]
        )
        # BM25 without a filter sums the terms' postings blocks (`rag.backends.pg_blocks`) when the index has them
        # complete (the same rule as the term table), else it takes the SQL paths below.
        self._blocks = (manifest.get("bm25") or {}).get("blocks") is True and bool(
            self._rows("SELECT to_regclass('rag_term_blocks') IS NOT NULL")[0][0]
        )
        self._view = _IndexView(self)

    # -- connections ---------------------------------------------------------------------------------
    @contextlib.contextmanager
    def session(self) -> Iterator[Any]:
        """One read-only snapshot for everything this thread reads inside the block (nested: the same one)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            yield conn
            return
        conn = self._reads.get()
        self._local.conn = conn
        try:
            conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(Exception):
                conn.execute("ROLLBACK")
            raise
        finally:
            self._local.conn = None
            self._reads.put(conn)

    def _rows(self, sql: str, params: Sequence[Any] = (), binary: bool = False) -> list[tuple]:
        """The rows of one statement in this thread's snapshot (`binary`: results in binary format, which reads
        vectors several times faster than their text)."""
        import psycopg

        try:
            with self.session() as conn:
                return conn.execute(sql, params, binary=binary).fetchall()
        except psycopg.OperationalError as exc:
            raise DatabaseUnavailable(
                f"lost the connection to PostgreSQL at {_redact(self.dsn)} ({str(exc).strip().splitlines()[0]}); "
                "check that the server is running"
            ) from None

    def _read_manifest(self) -> dict[str, Any] | None:
        try:
            rows = self._rows("SELECT manifest FROM rag_manifest WHERE id = 1")
        except Exception as exc:  # noqa: BLE001 - no tables yet
            if "rag_manifest" in str(exc):
                return None
            raise
        return dict(rows[0][0]) if rows else None

    def close(self) -> None:
        self._reads.close()

    # -- what is indexed -------------------------------------------------------------------------------
    @property
    def manifest(self) -> dict[str, Any]:
        return self._manifest

    @property
    def index(self) -> _IndexView:
        return self._view

    def generation(self) -> str | None:
        m = self._read_manifest()
        return m.get("generation") if m else None

    def chunk_count(self) -> int:
        return int(self._rows("SELECT n_docs FROM rag_stats WHERE id = 1")[0][0])

    def bm25_docs(self) -> int:
        return self.chunk_count()

    def outlets(self) -> list[str]:
        return sorted(r[0] for r in self._rows("SELECT DISTINCT outlet FROM rag_articles"))

    def newest(self) -> date | None:
        row = self._rows("SELECT max(last_day) FROM rag_chunks")[0][0]
        return date.fromisoformat(row) if row else None

    def min_df(self) -> int:
        return int(self._rows("SELECT coalesce(min(df), 0) FROM rag_terms")[0][0])

    def term_stats(self, terms: Sequence[str]) -> dict[str, int]:
        found = dict(self._rows("SELECT term, df FROM rag_terms WHERE term = ANY(%s)", [list(terms)]))
        return {t: int(found.get(t, 0)) for t in terms}

    def status(self) -> dict[str, Any]:
        (articles,) = self._rows("SELECT count(*) FROM rag_articles")[0]
        return {
            "backend": self.name,
            "server": _redact(self.dsn),
            "articles": int(articles),
            "chunks": self.chunk_count(),
        }

    def hashes(self) -> Mapping[str, str]:
        return dict(self._rows("SELECT id, hash FROM rag_articles"))

    def outlet_counts(self) -> dict[str, int]:
        return {o: int(n) for o, n in self._rows("SELECT outlet, count(*) FROM rag_articles GROUP BY outlet")}

    def max_chunk_id(self) -> int:
        return int(self._rows("SELECT coalesce(max(id), -1) FROM rag_chunks")[0][0])

    # -- search ----------------------------------------------------------------------------------------
    def any_match(self, flt: Filter | None) -> bool:
        where, params = _where(flt)
        return bool(self._rows(f"SELECT EXISTS (SELECT 1 FROM rag_chunk_meta c WHERE {where})", params)[0][0])  # noqa: S608

    def chunk_ids(self, flt: Filter | None) -> list[int]:
        where, params = _where(flt)
        return [int(r[0]) for r in self._rows(f"SELECT c.id FROM rag_chunk_meta c WHERE {where} ORDER BY c.id", params)]  # noqa: S608

    def _stats(self, memo: dict) -> tuple[int, float, int]:
        """(N, average chunk length, max_span) of the snapshot, read once per search (`memo`)."""
        key = ("pg", "stats")
        if key not in memo:
            n, total, span = self._rows("SELECT n_docs, total_len, max_span FROM rag_stats WHERE id = 1")[0]
            memo[key] = (int(n), float(total) / max(int(n), 1), int(span))
        return memo[key]

    def filter_rows(self, flt: Filter, cap: int, memo: dict) -> int:
        """How many chunks `flt` leaves, counted up to `cap` + 1 (an index-only range scan of rag_chunk_meta)."""
        key = ("pg", "rows", flt, cap)
        if key not in memo:
            where, params = _where_postings(flt, self._stats(memo)[2], "m")
            memo[key] = int(
                self._rows(
                    f"SELECT count(*) FROM (SELECT 1 FROM rag_chunk_meta m WHERE {where} LIMIT %s) s",  # noqa: S608
                    [*params, cap + 1],
                )[0][0]
            )
        return memo[key]

    def dense_top(self, qvec: np.ndarray, n: int, flt: Filter | None, memo: dict) -> list[tuple[int, float]]:
        """Dense top `n` by inner product inside the filter. With the HNSW index, a filter that leaves at most
        `_EXACT_ROWS` chunks (or 2.5% of them) is searched exactly over its rows instead: an index range over
        (outlet, first day) — rows a first build writes in that order —, or for a window alone (at most
        `_EXACT_LOOKUPS` chunks) its chunk ids looked up one by one. Else HNSW with iterative scans
        (`hnsw.ef_search` ≥ n)."""
        q = np.asarray(qvec, dtype=np.float32)
        if flt is not None and flt.empty:
            return []
        if flt is not None and self._exact_dense and self._manifest.get("vector_index", {}).get("type") == "hnsw":
            cap = max(_EXACT_ROWS, self._stats(memo)[0] // 40) if flt.outlets is not None else _EXACT_LOOKUPS
            if self.filter_rows(flt, cap, memo) <= cap:
                return self._dense_exact(q, n, flt, memo)
        where, params = _where(flt)
        ef = max(int(self._manifest.get("hnsw_ef_search", 128)), n)
        with self.session() as conn:
            # Only matters when the HNSW index exists: widen the beam to n and keep scanning under a filter.
            conn.execute("SELECT set_config('hnsw.ef_search', %s, true)", [str(ef)])
            conn.execute("SELECT set_config('hnsw.iterative_scan', 'relaxed_order', true)")
            rows = self._rows(
                f"SELECT c.id, -(c.embedding <#> %s) FROM rag_chunks c WHERE {where} "  # noqa: S608
                "ORDER BY c.embedding <#> %s LIMIT %s",
                [q, *params, q, n],
            )
        out = [(int(i), float(np.float32(s))) for i, s in rows]
        out.sort(key=lambda r: (-r[1], r[0]))
        return out

    def _dense_exact(self, q: np.ndarray, n: int, flt: Filter, memo: dict) -> list[tuple[int, float]]:
        """Exact dense top `n` over the chunks inside `flt` (no HNSW: the scores are computed in a subquery the
        ORDER BY cannot reach through, OFFSET 0)."""
        max_span = self._stats(memo)[2]
        if flt.outlets is not None:  # one index range (per outlet) of rag_chunks
            where, params = _where_postings(flt, max_span, "c")
            sql = f"""SELECT x.id, x.s FROM (SELECT c.id, -(c.embedding <#> %s) AS s FROM rag_chunks c
                      WHERE {where} OFFSET 0) x ORDER BY x.s DESC, x.id LIMIT %s"""  # noqa: S608
        else:  # a window: its ids from rag_chunk_meta's day index, each chunk's vector by its primary key
            where, params = _where_postings(flt, max_span, "m")
            sql = f"""SELECT m.id, x.s FROM rag_chunk_meta m CROSS JOIN LATERAL
                          (SELECT -(c.embedding <#> %s) AS s FROM rag_chunks c WHERE c.id = m.id OFFSET 0) x
                      WHERE {where} ORDER BY x.s DESC, m.id LIMIT %s"""  # noqa: S608
        rows = self._rows(sql, [q, *params, n])
        out = [(int(i), float(np.float32(s))) for i, s in rows]
        out.sort(key=lambda r: (-r[1], r[0]))
        return out

    def lexical_top(self, tokens: list[str], n: int, flt: Filter | None, memo: dict) -> list[tuple[int, float]]:
        """BM25 top `n`, exact, by MaxScore (Turtle & Flood 1995) over the postings inside the filter (they carry
        the filter's columns, so a term's postings inside it are one index range, never the others).

        The query's rarest terms (`essential`: as many as make reading their postings plus looking up the others
        for each chunk holding one cheapest, `_PROBE_COST`) are read in full and give each chunk holding one a
        partial score. The other terms are frequent: each adds at most its idf to any chunk (the tf part is
        below 1), `bound` together. The
        `_FIRST_SCORED` · n best partly scored chunks are scored in full (every term, looked up by chunk) and
        their n-th score θ is a floor of the true n-th score; then only the chunks whose partial score plus
        `bound` reaches θ can enter the top n, and they are scored in full too. If `bound` itself reaches θ, a
        chunk holding only frequent terms could enter: the next rarest term is made essential and it is tried
        again, and when no frequent term is left every posting is scored (`_bm25`). Ties (equal scores) rank by
        chunk id in every path, as in the full scoring, and each chunk's score is computed the same way."""
        if not tokens or n <= 0:
            return []
        if flt is not None and flt.empty:
            return []
        qtf = Counter(tokens)
        with self.session():
            n_docs, _, max_span = self._stats(memo)
            df = {t: d for t, d in self.term_stats(list(qtf)).items() if d > 0}
            if not df:
                return []
            if flt is None and self._blocks:
                memo.setdefault(("pg", "bm25"), []).append((len(df), -1))  # every posting scored, as arrays
                return pg_blocks.top(self._rows, tokens, n, df, n_docs, self._stats(memo)[1])
            where, params = _where_postings(flt, max_span)
            terms = sorted(df, key=lambda t: (df[t], t))  # rarest first
            # Read the k rarest: their postings, and (at worst) a lookup per chunk holding one and other term. Only
            # a k whose other terms' bound stays under what one posting of the rarest term scores at tf 1 and an
            # average length (idf / (1 + k1)) can prove itself when n chunks hold that term.
            # The chunks looked up are fewer the smaller that bound is against that score (`share`).
            bounds = [qtf[t] * lexical_idf(df[t], n_docs) for t in terms]
            held = np.cumsum([df[t] for t in terms])
            cost = []
            for i in range(len(terms)):
                share = sum(bounds[i + 1 :]) / (bounds[0] / (1 + K1))
                cost.append(held[i] * (1 + _PROBE_COST * share * (len(terms) - 1 - i)) if share < 1 else float("inf"))
            k = 1 + int(np.argmin(cost))
            for _ in range(2):
                if k >= len(terms):
                    break
                bound = sum(bounds[k:])
                rows, floor = self._bm25_pruned(tokens, n, where, params, terms[:k], bound, memo)
                if floor is not None:
                    return rows
                k += 1
            memo.setdefault(("pg", "bm25"), []).append((len(terms), -1))  # every posting scored
            return self._bm25(tokens, n, where, params)

    # bm25s ("lucene"): a chunk's score is Σ over the query's tokens, in their order (a repeated token counted each
    # time), of idf(df) · tf / (tf + k1 (1 − b + b · len / avgdl)) rounded to float32 as bm25s stores it, summed in
    # float32 one after the other as bm25s does (`_FINAL`: an ordered float4 sum). Which chunks are worth that
    # sum is decided on `_EXACT`, the float8 sum of the same float4 parts (exact: order-free), within `_SLACK` of
    # the n-th one (a float32 sum of a few terms is within ~1e-6 of the exact sum). The idf is computed once per
    # query term (`w`), not per posting.
    _PART = """(w.idf * p.tf / (p.tf + %s * (1 - %s + %s * p.len / w.avgdl)))::float4"""
    _EXACT = f"""sum(w.qtf * {_PART}::float8)"""
    _SLACK = 2e-5
    _QUERY = """WITH q AS (SELECT u.term, u.pos FROM unnest(%s::text[]) WITH ORDINALITY AS u(term, pos)),
                st AS (SELECT n_docs::float8 AS n, total_len::float8 / greatest(n_docs, 1) AS avgdl
                       FROM rag_stats WHERE id = 1),
                w AS MATERIALIZED (SELECT t.term, d.qtf, ln(1 + (st.n - t.df + 0.5) / (t.df + 0.5)) AS idf, st.avgdl
                       FROM (SELECT q.term, count(*) AS qtf FROM q GROUP BY q.term) d
                            JOIN rag_terms t ON t.term = d.term CROSS JOIN st)"""
    #: The postings of the query terms (`terms`, a subset of `w`) of the chunks in `{k}`, looked up by chunk and
    #: term in the `(chunk_id, term)` index: per term one index scan over the chunks' ids (an array the planner
    #: sizes as small, so it never reads the term's whole list instead; OFFSET 0 keeps the loop per term).
    _LOOKUP = """w CROSS JOIN LATERAL (SELECT p.chunk_id, p.tf, p.len FROM rag_postings p
                     WHERE p.chunk_id = ANY(ARRAY(SELECT {k}.chunk_id FROM {k})) AND p.term = w.term OFFSET 0) p"""
    #: The same from rag_chunk_terms: each chunk of `{k}` read once by its id (a small table that stays cached),
    #: its tf of each query term looked up in its jsonb (binary search over the keys); a lateral `w` per chunk
    #: (OFFSET 0), so the chunk's row is fetched once for all the terms. Same columns as `_LOOKUP`.
    _LOOKUP_FORWARD = """{k} JOIN rag_chunk_terms f ON f.chunk_id = {k}.chunk_id
        CROSS JOIN LATERAL (SELECT x.* FROM (SELECT w.term, w.qtf, w.idf, w.avgdl, (f.tfs ->> w.term)::int AS tf
                                             FROM w OFFSET 0) x WHERE x.tf IS NOT NULL) w
        CROSS JOIN LATERAL (SELECT f.chunk_id, w.tf, f.len) p"""
    #: The chunks of `{k}` scored: their exact sum and their bm25s score (every query term looked up).
    _FINAL = """SELECT p.chunk_id, sum({part}::float8) AS s, sum({part} ORDER BY q.pos) AS score
                FROM {lookup} JOIN q ON q.term = w.term
                GROUP BY p.chunk_id"""

    def _lookup(self, k: str) -> str:
        """The query terms' postings of the chunks in `{k}` (`_LOOKUP_FORWARD` when the index has the table)."""
        return (self._LOOKUP_FORWARD if self._forward else self._LOOKUP).format(k=k)

    def _final(self, k: str) -> str:
        return self._FINAL.format(part=self._PART, lookup=self._lookup(k))

    def _bm25(self, tokens: list[str], n: int, where: str, params: list[Any]) -> list[tuple[int, float]]:
        """BM25 of every chunk inside the filter (`where` over the postings `p`) holding a query term (per term, an
        index range over its postings inside the filter), the bm25s score of those near the n-th."""
        rows = self._rows(
            f"""{self._QUERY},
            a AS MATERIALIZED (SELECT p.chunk_id, {self._EXACT} AS s FROM w JOIN rag_postings p ON p.term = w.term
                               WHERE {where} GROUP BY p.chunk_id),
            th AS (SELECT coalesce((SELECT a.s FROM a ORDER BY a.s DESC OFFSET %s LIMIT 1), 0) AS s),
            c AS MATERIALIZED (SELECT a.chunk_id FROM a CROSS JOIN th WHERE a.s >= th.s * %s)
            SELECT f.chunk_id, f.score FROM ({self._final("c")}) f ORDER BY f.score DESC, f.chunk_id LIMIT %s""",  # noqa: S608 - `where` is built from fixed fragments; every value is a parameter
            [list(tokens), K1, B, B, *params, n - 1, 1 - self._SLACK, K1, B, B, K1, B, B, n],
        )
        return [(int(i), float(s)) for i, s in rows if s > 0]

    def _bm25_pruned(
        self, tokens: list[str], n: int, where: str, params: list[Any], essential: list[str], bound: float, memo: dict
    ) -> tuple[list[tuple[int, float]], float | None]:
        """One MaxScore pass (`lexical_top`) in one statement. `e`: partial sums from the `essential` terms'
        postings inside the filter; `fb`: the best `_FIRST_SCORED` · n of them completed with the other terms'
        parts (looked up by chunk), θ their n-th sum (a floor of the true n-th); `r`: the chunks of `e` whose
        partial sum plus `bound` (the other terms' largest parts) reaches θ, completed the same way (`sr`); `c`:
        those within `_SLACK` of the n-th sum, scored as bm25s does. Returns (top n, θ), or (…, None) when that is
        no proof: fewer than n chunks scored, or `bound` reaching θ (a chunk without an essential term might
        be in the top n)."""
        rest = sorted(set(tokens) - set(essential))
        complete = """SELECT {k}.chunk_id, {k}.s + coalesce(x.s, 0) AS s
            FROM {k} LEFT JOIN (SELECT p.chunk_id, sum(w.qtf * {part}::float8) AS s FROM {lookup}
                                WHERE w.term = ANY(%s) GROUP BY p.chunk_id) x ON x.chunk_id = {k}.chunk_id"""
        sql = f"""{self._QUERY},
            e AS MATERIALIZED (
                SELECT p.chunk_id, {self._EXACT} AS s
                FROM w JOIN rag_postings p ON p.term = w.term
                WHERE w.term = ANY(%s) AND {where}
                GROUP BY p.chunk_id),
            b AS MATERIALIZED (SELECT e.chunk_id, e.s FROM e ORDER BY e.s DESC, e.chunk_id LIMIT %s),
            fb AS MATERIALIZED ({complete.format(k="b", part=self._PART, lookup=self._lookup("b"))}),
            th AS MATERIALIZED (SELECT coalesce((SELECT fb.s FROM fb ORDER BY fb.s DESC OFFSET %s LIMIT 1), -1) AS s),
            r AS MATERIALIZED (SELECT e.chunk_id, e.s FROM e CROSS JOIN th WHERE e.s >= th.s * %s - %s),
            sr AS MATERIALIZED ({complete.format(k="r", part=self._PART, lookup=self._lookup("r"))}),
            th2 AS (SELECT coalesce((SELECT sr.s FROM sr ORDER BY sr.s DESC OFFSET %s LIMIT 1), 0) AS s),
            c AS MATERIALIZED (SELECT sr.chunk_id FROM sr CROSS JOIN th2 WHERE sr.s >= th2.s * %s)
        SELECT f.chunk_id, f.score, (SELECT th.s FROM th), (SELECT count(*) FROM r)
        FROM ({self._final("c")}) f
        ORDER BY f.score DESC, f.chunk_id
        LIMIT %s"""  # noqa: S608 - `where` is built from fixed fragments; every value is a parameter
        slack = self._SLACK
        reach = bound * (1 + slack) + 1e-9  # the most the other terms add to a chunk (float4 parts rounded up)
        args = [list(tokens), K1, B, B, list(essential), *params, _FIRST_SCORED * n, K1, B, B, rest,
                n - 1, 1 - slack, reach, K1, B, B, rest, n - 1, 1 - slack, K1, B, B, K1, B, B, n]  # fmt: skip
        rows = self._rows(sql, args)
        if not rows:
            return [], None
        theta = float(rows[0][2])
        memo.setdefault(("pg", "bm25"), []).append((len(essential), int(rows[0][3])))  # (terms read, rescored)
        if theta <= 0 or reach >= theta * (1 - slack):
            return [], None
        return [(int(i), float(s)) for i, s, _, _ in rows if s > 0], theta

    def fetch(self, ids: Sequence[int]) -> dict[int, ChunkRow]:
        if not len(ids):
            return {}
        rows = self._rows(
            """SELECT c.id, c.article_id, c.start, c."end", substr(a.body, c.start + 1, c."end" - c.start),
                      a.outlet, a.title, a.published, a.url, c.embedding
               FROM rag_chunks c JOIN rag_articles a ON a.id = c.article_id WHERE c.id = ANY(%s)""",
            [[int(i) for i in ids]],
            binary=True,
        )
        out = {}
        for cid, aid, start, end, text, outlet, title, published, url, vec in rows:
            chunk = Chunk(aid, start, end, text, id=int(cid))
            out[int(cid)] = ChunkRow(chunk, ArticleRef(aid, outlet, title, published, url), _array(vec))
        missing = [i for i in ids if int(i) not in out]
        if missing:
            raise KeyError(f"chunks {missing[:5]} are not in the index (it changed during the search)")
        return out

    def sentences(self, chunk_ids: Sequence[int]) -> SentenceVectors | None:
        if not len(chunk_ids):
            return None
        if self._rows("SELECT to_regclass('rag_sentences') IS NULL")[0][0]:
            return None  # a database written before sentence vectors were stored
        rows = self._rows(
            "SELECT chunk_id, spans, vectors FROM rag_sentences WHERE chunk_id = ANY(%s)", [[int(i) for i in chunk_ids]]
        )
        dim = int(self.manifest["dimension"])
        parts = []
        for cid, spans, raw in rows:
            pairs = list(zip(spans[0::2], spans[1::2], strict=True))
            vectors = np.frombuffer(bytes(raw), dtype=np.float16).reshape(-1, dim)
            parts.append(SentenceVectors.of(int(cid), pairs, vectors))
        return SentenceVectors.concat(parts, dim) if parts else None

    def articles(self, ids: Sequence[str]) -> dict[str, Article]:
        rows = self._rows(
            "SELECT id, outlet, title, published, url, body, source FROM rag_articles WHERE id = ANY(%s)", [list(ids)]
        )
        return {r[0]: Article(*r) for r in rows}

    # -- writing ---------------------------------------------------------------------------------------
    @staticmethod
    def apply(
        dsn: str,
        changes: Changes,
        manifest_fields: dict[str, Any],
        based_on: str | None,
        ann_threshold: int = 50_000,
        hnsw_m: int = 32,
        hnsw_ef_construction: int = 80,
        bm25_outlet: bool = True,
    ) -> dict[str, Any]:
        """Apply a change set in one transaction and switch the manifest row; returns the new manifest.

        `based_on` is the generation the change set was computed against: if another writer committed in the
        meantime, nothing is written and `IndexProblem` asks for a rerun."""
        conn = connect(dsn, create_extension=True)
        try:
            with conn.transaction():
                cur = conn.cursor()
                cur.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_KEY])
                cur.execute("SELECT to_regclass('rag_manifest') IS NOT NULL")
                row = None
                if cur.fetchone()[0]:
                    cur.execute("SELECT manifest FROM rag_manifest WHERE id = 1")
                    row = cur.fetchone()
                current = row[0].get("generation") if row else None
                if current != based_on:
                    raise IndexProblem(
                        "the index in PostgreSQL changed while this update was prepared; run `rag index` again"
                    )
                remove = list(dict.fromkeys(changes.remove_articles))
                if row is not None and row[0].get("schema") != SCHEMA_VERSION:
                    # Another table layout: only a rebuild (every article replaced) may drop and remake it.
                    cur.execute("SELECT count(*) FROM rag_articles WHERE NOT (id = ANY(%s))", [remove])
                    if cur.fetchone()[0]:
                        raise IndexMismatch(
                            f"the index in PostgreSQL at {_redact(dsn)} has table layout {row[0].get('schema', 1)}, "
                            f"this version writes {SCHEMA_VERSION}; run `rag index --rebuild` with RAG_BACKEND=postgres"
                        )
                    for t in _TABLES:
                        cur.execute(f"DROP TABLE IF EXISTS {t} CASCADE")
                    remove = []
                # The per-chunk term table is complete only when a full build wrote it (every article written in
                # this transaction) or every update since did (the manifest says so: an update by a version that
                # does not know it leaves the flag out). Otherwise it is dropped and BM25 reads the postings.
                cur.execute("SELECT to_regclass('rag_articles') IS NULL")
                full = bool(cur.fetchone()[0])
                if not full:
                    cur.execute("SELECT count(*) = (SELECT count(*) FROM rag_articles) FROM rag_articles "
                                "WHERE id = ANY(%s)", [remove])  # fmt: skip
                    full = bool(cur.fetchone()[0])
                forward = full or bool(row is not None and (row[0].get("bm25") or {}).get("forward") is True)
                blocks = full or bool(row is not None and (row[0].get("bm25") or {}).get("blocks") is True)
                for stmt in _schema(int(manifest_fields["dimension"])):
                    cur.execute(stmt)
                if forward:
                    cur.execute(_FORWARD_TABLE)
                else:
                    cur.execute("DROP TABLE IF EXISTS rag_chunk_terms")
                cur.execute("SELECT to_regclass('rag_term_blocks') IS NULL")
                blocks_empty = bool(cur.fetchone()[0])
                if blocks:
                    for stmt in pg_blocks.TABLE:
                        cur.execute(stmt)
                    if full and not blocks_empty:  # a rebuild: every block is written anew
                        cur.execute("DELETE FROM rag_term_blocks")
                        blocks_empty = True
                else:
                    cur.execute("DROP TABLE IF EXISTS rag_term_blocks")
                cur.execute(
                    "INSERT INTO rag_stats (id, n_docs, total_len) VALUES (1, 0, 0) ON CONFLICT (id) DO NOTHING"
                )
                touched: set[str] = set()
                removed_blocks: list[tuple[str, int]] = []  # (term, block) of every removed posting
                removed_ids: list[int] = []
                if remove:
                    cur.execute(
                        f"SELECT DISTINCT p.term, p.chunk_id >> {pg_blocks.BLOCK_BITS:d} FROM rag_postings p "
                        "JOIN rag_chunks c ON c.id = p.chunk_id WHERE c.article_id = ANY(%s)",
                        [remove],
                    )
                    removed_blocks = [(t, int(b)) for t, b in cur.fetchall()]
                    touched.update(t for t, _ in removed_blocks)
                    cur.execute("SELECT id FROM rag_chunks WHERE article_id = ANY(%s)", [remove])
                    removed_ids = [int(r[0]) for r in cur.fetchall()]
                    cur.execute(
                        "UPDATE rag_stats SET n_docs = n_docs - s.n, total_len = total_len - s.l FROM "
                        "(SELECT count(*) AS n, coalesce(sum(len), 0) AS l FROM rag_chunks "
                        "WHERE article_id = ANY(%s)) s "
                        "WHERE rag_stats.id = 1",
                        [remove],
                    )
                    # Postings have no foreign key (millions of rows: checking each would dominate a build).
                    cur.execute(
                        "DELETE FROM rag_postings WHERE chunk_id IN "
                        "(SELECT id FROM rag_chunks WHERE article_id = ANY(%s))",
                        [remove],
                    )
                    if forward:
                        cur.execute(
                            "DELETE FROM rag_chunk_terms WHERE chunk_id IN "
                            "(SELECT id FROM rag_chunks WHERE article_id = ANY(%s))",
                            [remove],
                        )
                    cur.execute("DELETE FROM rag_articles WHERE id = ANY(%s)", [remove])
                new = pg_blocks.NewPostings() if blocks else None
                touched |= _insert(cur, changes, bm25_outlet, forward, new)
                if new is not None:
                    pg_blocks.write(cur, new, removed_ids, removed_blocks, blocks_empty)
                cur.execute("SELECT to_regclass('rag_postings_pkey') IS NULL")
                first_build = bool(cur.fetchone()[0])
                for stmt in _POSTINGS_INDEXES:  # on a first build: sorted index builds, not row-by-row inserts
                    cur.execute(stmt)
                if first_build:  # the planner's statistics for the first searches (autovacuum comes later)
                    for table in ("rag_postings", "rag_chunks", "rag_chunk_meta", *(("rag_chunk_terms",) * forward)):
                        cur.execute(f"ANALYZE {table}")
                if touched:
                    terms = sorted(touched)
                    cur.execute("DELETE FROM rag_terms WHERE term = ANY(%s)", [terms])
                    cur.execute(
                        "INSERT INTO rag_terms SELECT term, count(*) FROM rag_postings "
                        "WHERE term = ANY(%s) GROUP BY term",
                        [terms],
                    )
                cur.execute("SELECT n_docs FROM rag_stats WHERE id = 1")
                n_chunks = int(cur.fetchone()[0])
                index_kind = "flat"
                if n_chunks >= ann_threshold:
                    index_kind = "hnsw"
                    cur.execute(
                        "CREATE INDEX IF NOT EXISTS rag_chunks_hnsw ON rag_chunks USING hnsw (embedding vector_ip_ops) "
                        f"WITH (m = {int(hnsw_m)}, ef_construction = {int(hnsw_ef_construction)})"
                    )
                else:
                    cur.execute("DROP INDEX IF EXISTS rag_chunks_hnsw")
                gen = f"gen-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(3)}"
                manifest = {
                    "format": FORMAT_VERSION,
                    "package_version": __version__,
                    "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
                    **manifest_fields,
                    "generation": gen,
                    "files": {},
                    "chunks": n_chunks,
                    "backend": "postgres",
                    "schema": SCHEMA_VERSION,
                    "vector_index": {"type": index_kind},
                    "bm25": {"outlet": bool(bm25_outlet), "method": "lucene", "forward": forward, "blocks": blocks},
                }
                cur.execute(
                    "INSERT INTO rag_manifest VALUES (1, %s::jsonb) "
                    "ON CONFLICT (id) DO UPDATE SET manifest = EXCLUDED.manifest",
                    [json.dumps(manifest)],
                )
            return manifest
        finally:
            conn.close()

    @staticmethod
    def current(dsn: str) -> tuple[dict[str, Any] | None, dict[str, str], int]:
        """(manifest or None, article hashes, max chunk id) of the index a writer is about to update."""
        conn = connect(dsn, create_extension=True, autocommit=True)
        try:
            exists = conn.execute("SELECT to_regclass('rag_manifest') IS NOT NULL").fetchone()[0]
            if not exists:
                return None, {}, -1
            with conn.transaction():
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                row = conn.execute("SELECT manifest FROM rag_manifest WHERE id = 1").fetchone()
                if row is None:
                    return None, {}, -1
                hashes = dict(conn.execute("SELECT id, hash FROM rag_articles").fetchall())
                top = conn.execute("SELECT coalesce(max(id), -1) FROM rag_chunks").fetchone()[0]
            return dict(row[0]), hashes, int(top)
        finally:
            conn.close()

    @staticmethod
    def drop(dsn: str) -> None:
        """Remove every table of the index (`rag index --rebuild` does it inside its transaction instead)."""
        conn = connect(dsn)
        try:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_KEY])
                for t in _TABLES:
                    conn.execute(f"DROP TABLE IF EXISTS {t} CASCADE")
        finally:
            conn.close()


def _insert(
    cur: Any, changes: Changes, bm25_outlet: bool, forward: bool = False, new: pg_blocks.NewPostings | None = None
) -> set[str]:
    """COPY the new articles, chunks (with vectors) and postings (and with `forward` each chunk's terms into
    rag_chunk_terms; each posting into `new` too, for the term blocks); returns the terms they hold."""
    arts = {a.id: a for a in changes.add_articles}
    with cur.copy("COPY rag_articles (id, outlet, title, published, url, body, source, hash) FROM STDIN") as copy:
        for a in changes.add_articles:
            copy.write_row((a.id, a.outlet, a.title, a.published, a.url, a.body, a.source, a.hash))
    terms: set[str] = set()
    if not changes.add_chunks:
        return terms
    refs = {a.id: ArticleRef(a.id, a.outlet, a.title, a.published, a.url) for a in changes.add_articles}
    docs = [bm25_document(refs[c.article_id], c, bm25_outlet) for c in changes.add_chunks]
    tokens = tokenize(docs)
    vectors = np.asarray(changes.add_vectors, dtype=np.float32)
    total_len = sum(len(toks) for toks in tokens)
    where_of = []  # (outlet, first day, last day) of each new chunk
    for c in changes.add_chunks:
        a = arts[c.article_id]
        bounds = date_bounds(a.published)
        where_of.append((a.outlet.casefold(), *(bounds if bounds else (None, None))))
    # Rows in (outlet, first day, id) order: the chunks of one outlet (and of one window in it) share few pages,
    # so the exact dense scan under such a filter (`dense_top`) reads little. The ids are unchanged.
    chunk_ids = [c.id for c in changes.add_chunks]
    by_filter = sorted(range(len(where_of)), key=lambda i: (where_of[i][0], where_of[i][1] or "", chunk_ids[i]))
    with cur.copy(
        'COPY rag_chunks (id, article_id, start, "end", outlet_cf, first_day, last_day, len, embedding) '
        "FROM STDIN WITH (FORMAT BINARY)"
    ) as copy:
        copy.set_types(["int8", "text", "int4", "int4", "text", "text", "text", "int4", "vector"])
        for i in by_filter:
            c, (outlet, first, last) = changes.add_chunks[i], where_of[i]
            copy.write_row((c.id, c.article_id, c.start, c.end, outlet, first, last, len(tokens[i]), vectors[i]))
    with cur.copy(
        "COPY rag_chunk_meta (id, article_id, outlet_cf, first_day, last_day, len) FROM STDIN WITH (FORMAT BINARY)"
    ) as copy:
        copy.set_types(["int8", "text", "text", "text", "text", "int4"])
        for i in by_filter:
            c, (outlet, first, last) = changes.add_chunks[i], where_of[i]
            copy.write_row((c.id, c.article_id, outlet, first, last, len(tokens[i])))
    max_span = 0
    with cur.copy(
        "COPY rag_postings (chunk_id, tf, len, term, outlet_cf, first_day, last_day) FROM STDIN WITH (FORMAT BINARY)"
    ) as copy:
        copy.set_types(["int8", "int4", "int4", "text", "text", "text", "text"])
        for c, toks in zip(changes.add_chunks, tokens, strict=True):
            a = arts[c.article_id]
            bounds = date_bounds(a.published)
            first, last = bounds if bounds else (None, None)
            max_span = max(max_span, _span(first, last))
            outlet, length = a.outlet.casefold(), len(toks)
            for term, tf in Counter(toks).items():
                copy.write_row((c.id, tf, length, term, outlet, first, last))
                terms.add(term)
                if new is not None:
                    new.add(term, c.id, tf, length)
    if forward:
        from psycopg.types.json import Jsonb

        with cur.copy("COPY rag_chunk_terms (chunk_id, len, tfs) FROM STDIN WITH (FORMAT BINARY)") as copy:
            copy.set_types(["int8", "int4", "jsonb"])
            for c, toks in zip(changes.add_chunks, tokens, strict=True):
                copy.write_row((c.id, len(toks), Jsonb({t: str(tf) for t, tf in Counter(toks).items()})))
    if changes.add_sentences is not None and len(changes.add_sentences):
        sv = changes.add_sentences
        with cur.copy("COPY rag_sentences (chunk_id, spans, vectors) FROM STDIN WITH (FORMAT BINARY)") as copy:
            copy.set_types(["int8", "int4[]", "bytea"])
            order = np.argsort(sv.keys[:, 0], kind="stable")
            keys, vecs = sv.keys[order], sv.vectors[order]
            ids, starts = np.unique(keys[:, 0], return_index=True)
            for cid, a, b in zip(ids.tolist(), starts.tolist(), [*starts.tolist()[1:], len(keys)], strict=True):
                spans = keys[a:b, 1:].reshape(-1).tolist()
                copy.write_row((cid, spans, np.ascontiguousarray(vecs[a:b], dtype=np.float16).tobytes()))
    cur.execute(
        "UPDATE rag_stats SET n_docs = n_docs + %s, total_len = total_len + %s, max_span = greatest(max_span, %s) "
        "WHERE id = 1",
        [len(changes.add_chunks), total_len, max_span],
    )
    return terms


def _array(vec: Any) -> np.ndarray:
    return np.asarray(vec.to_numpy() if hasattr(vec, "to_numpy") else vec, dtype=np.float32)


class _Lazy(Mapping):
    """A read-only mapping whose values are fetched from the database by key (small LRU)."""

    _cache: dict[Any, Any]

    def __init__(self, fetch_many, keys) -> None:  # noqa: ANN001
        self._fetch_many, self._keys, self._cache = fetch_many, keys, {}

    def __getitem__(self, key):  # noqa: ANN001, ANN204
        if key not in self._cache:
            got = self._fetch_many([key])
            if key not in got:
                raise KeyError(key)
            if len(self._cache) > 4096:
                self._cache.clear()
            self._cache[key] = got[key]
        return self._cache[key]

    def __iter__(self):  # noqa: ANN204
        return iter(self._keys())

    def __len__(self) -> int:
        return len(self._keys())


class _IndexView:
    """What callers of `Retriever.index` read (`manifest`, `articles`, `chunks`, `refs`), from the database."""

    def __init__(self, backend: PostgresBackend) -> None:
        self._b = backend
        self.path = _redact(backend.dsn)
        self.articles = _Lazy(backend.articles, lambda: [r[0] for r in backend._rows("SELECT id FROM rag_articles")])
        self.chunks = _Lazy(
            lambda ids: {i: r.chunk for i, r in backend.fetch(ids).items()},
            lambda: [int(r[0]) for r in backend._rows("SELECT id FROM rag_chunks ORDER BY id")],
        )
        self.refs = _Lazy(
            lambda ids: {
                r[0]: ArticleRef(*r)
                for r in backend._rows(
                    "SELECT id, outlet, title, published, url FROM rag_articles WHERE id = ANY(%s)", [list(ids)]
                )
            },
            lambda: [r[0] for r in backend._rows("SELECT id FROM rag_articles")],
        )

    @property
    def manifest(self) -> dict[str, Any]:
        return self._b.manifest

    @property
    def hashes(self) -> Mapping[str, str]:
        return self._b.hashes()

    @property
    def dimension(self) -> int:
        return int(self._b.manifest["dimension"])

    def chunk_ids_for(self, article_id: str) -> list[int]:
        rows = self._b._rows("SELECT id FROM rag_chunks WHERE article_id = %s ORDER BY id", [article_id])
        return [int(r[0]) for r in rows]


def open_postgres(settings: Any, index_dir: Any = None) -> PostgresBackend:
    return PostgresBackend(settings.pg_dsn, settings.pg_replica_dsn, settings.model)


register("postgres", open_postgres)
