"""The PostgreSQL backend: chunks with pgvector vectors, articles, BM25 postings and the manifest as a row.

Tables (all prefixed `rag_`):

    rag_manifest  one row: the manifest (model, dimension, chunking, generation, built_at, …) as JSON
    rag_articles  id, outlet, title, published, url, body, source, hash
    rag_chunks    id, article_id, start, end, outlet_cf, first_day, last_day (the article's date bounds),
                  len (BM25 tokens), embedding vector(d)  — HNSW over embedding::halfvec(d) from
                  `ann_threshold` rows
    rag_term_blocks term, block, data, meta — the BM25 postings (the project's own tokenizer, rag.lexical,
                  computed in Python) as arrays per term and block of chunk ids, with each posting's chunk's
                  outlet code and days for filters (rag.backends.pg_blocks)
    rag_outlets   code, outlet_cf             — the outlet codes of the blocks
    rag_terms     term, df                    — kept in step with the blocks by every update
    rag_stats     n_docs, total_len, max_span — BM25's N and average document length; the widest date range

Lexical ranking is BM25 computed from the stored tf, df and lengths with bm25s's formula and constants
(rag.lexical), so both backends rank alike (PostgreSQL's ts_rank is not BM25). Dense ranking is
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
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np

from rag import __version__
from rag.backends import ChunkRow, Filter, pg_blocks, register
from rag.boilerplate import Repeated, repeated_keys
from rag.filters import date_bounds
from rag.lexical import bm25_document
from rag.sentence_vectors import SentenceVectors
from rag.store import FORMAT_VERSION, Changes, IndexMismatch, IndexNotFound, IndexProblem
from rag.text.tokens import tokenize
from rag.types import Article, ArticleRef, Chunk

_LOCK_KEY = 0x7261_6700  # pg_advisory_xact_lock key of the index writer ("rag")
_POOL = 8
#: Table layout version, in the manifest row: another one is refused with "rebuild".
SCHEMA_VERSION = 4
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
        # A narrow copy of what the filters read per chunk: scanning it never touches the vectors.
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
        "CREATE TABLE IF NOT EXISTS rag_terms (term text PRIMARY KEY, df int NOT NULL)",
        # The vectors of a chunk's sentences (rag.sentence_vectors): its sentence spans (start, end, start, …)
        # and one float16 array of their vectors, read only for the few chunks an answer quotes from.
        """CREATE TABLE IF NOT EXISTS rag_sentences (
            chunk_id bigint PRIMARY KEY REFERENCES rag_chunks(id) ON DELETE CASCADE,
            spans int4[] NOT NULL, vectors bytea NOT NULL)""",
        # The keys of the sentences repeated across articles, page furniture (rag.boilerplate), rewritten whole
        # by every write: the count is over all articles.
        "CREATE TABLE IF NOT EXISTS rag_repeated (key bigint PRIMARY KEY)",
        # max_span: the most days between a chunk's first_day and last_day (0 when every article has a day), so
        # that a date window [since, until] is the index range first_day in [since − max_span, until].
        """CREATE TABLE IF NOT EXISTS rag_stats (
            id int PRIMARY KEY CHECK (id = 1), n_docs bigint NOT NULL, total_len bigint NOT NULL,
            max_span int NOT NULL DEFAULT 0)""",
    ]


#: Every table of the index, in an order `DROP TABLE … CASCADE` can take.
_TABLES = ("rag_term_blocks", "rag_outlets", "rag_chunk_terms", "rag_postings", "rag_terms", "rag_sentences",
           "rag_repeated", "rag_chunk_meta", "rag_chunks", "rag_articles", "rag_stats", "rag_manifest")  # fmt: skip


def _write_repeated(conn: Any, cur: Any) -> None:
    """Count the page furniture over every article body (`rag.boilerplate`), streamed by a server-side cursor,
    and replace `rag_repeated` with it, in the writer's transaction."""
    with conn.cursor(name="rag_bodies") as bodies:
        bodies.itersize = 2000
        bodies.execute("SELECT body FROM rag_articles")
        keys = repeated_keys(row[0] for row in bodies)
    cur.execute("DELETE FROM rag_repeated")
    cur.execute("INSERT INTO rag_repeated SELECT unnest(%s::bigint[])", [keys.tolist()])


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


def _where_ranged(flt: Filter | None, max_span: int, alias: str = "c") -> tuple[str, list[Any]]:
    """`_where` over a table with the chunks' filter columns (`rag_chunks` or `rag_chunk_meta`), plus, for a window,
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
        conn = self.try_get()
        return conn if conn is not None else self._free.get(timeout=60)

    def try_get(self):  # noqa: ANN201
        """A connection if one is free or may still be made, else None (never waits)."""
        try:
            return self._free.get_nowait()
        except queue.Empty:
            pass
        with self._lock:
            if self._made >= _POOL:
                return None
            self._made += 1
        try:
            # Autocommit: each session sends its own BEGIN with the isolation level it needs.
            return connect(self.dsn, autocommit=True)
        except BaseException:
            with self._lock:
                self._made -= 1
            raise

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
        # The HNSW search's order: over the half-precision index when there is one (the score is the full one).
        half = manifest.get("vector_index", {}).get("precision") == "half"
        dim = int(manifest.get("dimension", 0))
        self._order = f"{_as_half('c.embedding', dim)} <#> {_as_half('%s', dim)}" if half else "c.embedding <#> %s"
        self._share = self._can_share_snapshots()
        self._threads = ThreadPoolExecutor(max_workers=_POOL, thread_name_prefix="rag-pg")
        self._view = _IndexView(self)

    # -- connections ---------------------------------------------------------------------------------
    @contextlib.contextmanager
    def session(self) -> Iterator[Any]:
        """One read-only snapshot for everything this thread reads inside the block (nested: the same one)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            yield conn
            return
        with self._transaction(self._reads.get()) as conn:
            yield conn

    @contextlib.contextmanager
    def _transaction(self, conn: Any, snapshot: str | None = None) -> Iterator[Any]:
        """`conn`, taken from the pool, as this thread's read-only transaction for the block, then back to the
        pool. `snapshot`: one exported by another session (`candidates`), read instead of a new one."""
        self._local.conn = conn
        try:
            conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            if snapshot is not None:
                from psycopg import sql

                conn.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(snapshot)))
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(Exception):
                conn.execute("ROLLBACK")
            raise
        finally:
            self._local.conn = None
            self._reads.put(conn)

    def _can_share_snapshots(self) -> bool:
        """Whether this server exports snapshots to other sessions (a primary does; some replicas may not)."""
        import psycopg

        try:
            with self.session() as conn:
                conn.execute("SELECT pg_export_snapshot()")
            return True
        except psycopg.Error:
            return False

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
        self._threads.shutdown(wait=True)
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
            where, params = _where_ranged(flt, self._stats(memo)[2], "m")
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
                f"ORDER BY {self._order} LIMIT %s",
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
            where, params = _where_ranged(flt, max_span, "c")
            sql = f"""SELECT x.id, x.s FROM (SELECT c.id, -(c.embedding <#> %s) AS s FROM rag_chunks c
                      WHERE {where} OFFSET 0) x ORDER BY x.s DESC, x.id LIMIT %s"""  # noqa: S608
        else:  # a window: its ids from rag_chunk_meta's day index, each chunk's vector by its primary key
            where, params = _where_ranged(flt, max_span, "m")
            sql = f"""SELECT m.id, x.s FROM rag_chunk_meta m CROSS JOIN LATERAL
                          (SELECT -(c.embedding <#> %s) AS s FROM rag_chunks c WHERE c.id = m.id OFFSET 0) x
                      WHERE {where} ORDER BY x.s DESC, m.id LIMIT %s"""  # noqa: S608
        rows = self._rows(sql, [q, *params, n])
        out = [(int(i), float(np.float32(s))) for i, s in rows]
        out.sort(key=lambda r: (-r[1], r[0]))
        return out

    def candidates(
        self, qvec: np.ndarray, tokens: list[str], n: int, flt: Filter | None, memo: dict
    ) -> tuple[list[tuple[int, float]], list[tuple[int, float]]]:
        """Dense and BM25 top `n` at once: the dense search runs in a worker thread on a second connection that
        imports this session's snapshot (`pg_export_snapshot`), so both read the same index and a search takes
        the longer of the two rather than their sum (the server works on one, this process scores the other).
        One after the other when no second connection is free (many users at once) or snapshots cannot be shared."""
        with self.session() as conn:
            second = self._reads.try_get() if self._share else None
            if second is None:
                return self.dense_top(qvec, n, flt, memo), self.lexical_top(tokens, n, flt, memo)
            try:
                snapshot = conn.execute("SELECT pg_export_snapshot()").fetchone()[0]
                dense = self._threads.submit(self._dense_in, second, snapshot, qvec, n, flt, memo)
            except BaseException:
                self._reads.put(second)
                raise
            try:
                lexical = self.lexical_top(tokens, n, flt, memo)
            except BaseException:
                dense.exception()  # waits: the snapshot must outlive the other search
                raise
            return dense.result(), lexical

    def _dense_in(
        self, conn: Any, snapshot: str, qvec: np.ndarray, n: int, flt: Filter | None, memo: dict
    ) -> list[tuple[int, float]]:
        with self._transaction(conn, snapshot):
            return self.dense_top(qvec, n, flt, memo)

    def lexical_top(self, tokens: list[str], n: int, flt: Filter | None, memo: dict) -> list[tuple[int, float]]:
        """BM25 top `n` inside the filter, exact: every posting of the query terms read from their blocks
        (`rag.backends.pg_blocks`, one read per term and block of ids), those outside the filter masked out, and
        scored as bm25s does with the whole index's df, N and average length. Ties rank by chunk id."""
        if not tokens or n <= 0:
            return []
        if flt is not None and flt.empty:
            return []
        with self.session():
            n_docs, avgdl, _ = self._stats(memo)
            df = {t: d for t, d in self.term_stats(sorted(set(tokens))).items() if d > 0}
            if not df:
                return []
            allowed = None if flt is None else self._allowed(flt, memo)
            if allowed is not None and allowed.codes == ():
                return []
            return pg_blocks.top(self._rows, tokens, n, df, n_docs, avgdl, allowed)

    def _allowed(self, flt: Filter, memo: dict) -> pg_blocks.Allowed:
        """The filter in the blocks' terms: its outlets' codes (an outlet the index lacks has none) and day keys."""
        key = ("pg", "allowed", flt)
        if key not in memo:
            codes = None
            if flt.outlets is not None:
                found = self._rows("SELECT code FROM rag_outlets WHERE outlet_cf = ANY(%s)", [list(flt.outlets)])
                codes = tuple(sorted(int(c) for (c,) in found))
            memo[key] = pg_blocks.Allowed(codes, pg_blocks.day_key(flt.since), pg_blocks.day_key(flt.until))
        return memo[key]

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

    def article_chunks(self, article_ids: Sequence[str]) -> list[int]:
        if not len(article_ids):
            return []
        rows = self._rows("SELECT id FROM rag_chunks WHERE article_id = ANY(%s) ORDER BY id", [list(article_ids)])
        return [int(r[0]) for r in rows]

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

    def repeated(self) -> Repeated | None:
        if self._rows("SELECT to_regclass('rag_repeated') IS NULL")[0][0]:
            return None  # a database written before page furniture was counted
        return Repeated(np.array([r[0] for r in self._rows("SELECT key FROM rag_repeated")], dtype=np.int64))

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
                cur.execute("SELECT to_regclass('rag_term_blocks') IS NULL")
                blocks_empty = bool(cur.fetchone()[0])
                for stmt in [*_schema(int(manifest_fields["dimension"])), *pg_blocks.TABLE]:
                    cur.execute(stmt)
                cur.execute(
                    "INSERT INTO rag_stats (id, n_docs, total_len) VALUES (1, 0, 0) ON CONFLICT (id) DO NOTHING"
                )
                removed_ids: list[int] = []
                removed_blocks: set[tuple[str, int]] = set()  # (term, block) of every removed posting
                removed_postings = 0
                if remove:
                    cur.execute("SELECT count(*) = (SELECT count(*) FROM rag_articles) FROM rag_articles "
                                "WHERE id = ANY(%s)", [remove])  # fmt: skip
                    if cur.fetchone()[0]:  # a rebuild: every block is written anew
                        cur.execute("DELETE FROM rag_term_blocks")
                        cur.execute("DELETE FROM rag_terms")
                        blocks_empty = True
                    else:
                        indexed_with_outlet = bool(((row[0] if row else {}).get("bm25") or {}).get("outlet", True))
                        removed_ids, removed_blocks, removed_postings = _removed_postings(
                            cur, remove, indexed_with_outlet, dsn
                        )
                    cur.execute(
                        "UPDATE rag_stats SET n_docs = n_docs - s.n, total_len = total_len - s.l FROM "
                        "(SELECT count(*) AS n, coalesce(sum(len), 0) AS l FROM rag_chunks "
                        "WHERE article_id = ANY(%s)) s "
                        "WHERE rag_stats.id = 1",
                        [remove],
                    )
                    cur.execute("DELETE FROM rag_articles WHERE id = ANY(%s)", [remove])
                new = pg_blocks.NewPostings()
                _insert(cur, changes, bm25_outlet, new)
                try:
                    df_change = pg_blocks.write(cur, new, removed_ids, removed_blocks, removed_postings, blocks_empty)
                except pg_blocks.BlocksMismatch as exc:
                    raise IndexMismatch(
                        f"the BM25 postings of the index in PostgreSQL at {_redact(dsn)} do not match its chunks "
                        f"({exc}); run `rag index --rebuild` with RAG_BACKEND=postgres"
                    ) from None
                changed = sorted(t for t, d in df_change.items() if d)
                if changed:
                    cur.execute(
                        "INSERT INTO rag_terms (term, df) SELECT * FROM unnest(%s::text[], %s::int[]) "
                        "ON CONFLICT (term) DO UPDATE SET df = rag_terms.df + EXCLUDED.df",
                        [changed, [df_change[t] for t in changed]],
                    )
                    cur.execute("DELETE FROM rag_terms WHERE term = ANY(%s) AND df <= 0", [changed])
                if blocks_empty:  # the planner's statistics for the first searches (autovacuum comes later)
                    for table in ("rag_chunks", "rag_chunk_meta", "rag_term_blocks", "rag_terms"):
                        cur.execute(f"ANALYZE {table}")
                _write_repeated(conn, cur)
                cur.execute("SELECT n_docs FROM rag_stats WHERE id = 1")
                n_chunks = int(cur.fetchone()[0])
                vector_index: dict[str, Any] = {"type": "flat"}
                if n_chunks >= ann_threshold:
                    precision = _hnsw_index(cur, int(manifest_fields["dimension"]), hnsw_m, hnsw_ef_construction)
                    vector_index = {"type": "hnsw", "precision": precision}
                else:
                    cur.execute("DROP INDEX IF EXISTS rag_chunks_hnsw")
                    cur.execute("DROP INDEX IF EXISTS rag_chunks_hnsw_half")
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
                    "vector_index": vector_index,
                    "bm25": {"outlet": bool(bm25_outlet), "method": "lucene"},
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


def _removed_postings(
    cur: Any, remove: Sequence[str], with_outlet: bool, dsn: str
) -> tuple[list[int], set[tuple[str, int]], int]:
    """The chunk ids of the articles to remove, the (term, block) of each of their postings and how many postings
    they are: their BM25 texts tokenized again as `_insert` did (the tokenizer is deterministic; each chunk's
    stored length checks it, and `pg_blocks.write` checks the count)."""
    cur.execute("SELECT id, outlet, title, published, url, body FROM rag_articles WHERE id = ANY(%s)", [list(remove)])
    arts = {r[0]: (ArticleRef(*r[:5]), r[5]) for r in cur.fetchall()}
    cur.execute('SELECT id, article_id, start, "end", len FROM rag_chunks WHERE article_id = ANY(%s)', [list(remove)])
    rows = cur.fetchall()
    docs = []
    for cid, aid, start, end, _ in rows:
        ref, body = arts[aid]
        docs.append(bm25_document(ref, Chunk(aid, start, end, body[start:end], id=cid), with_outlet))
    blocks: set[tuple[str, int]] = set()
    postings = 0
    for (cid, _, _, _, length), toks in zip(rows, tokenize(docs), strict=True):
        if len(toks) != length:
            raise IndexMismatch(
                f"the index in PostgreSQL at {_redact(dsn)} was tokenized otherwise than this version tokenizes "
                "(a chunk's BM25 length differs); run `rag index --rebuild` with RAG_BACKEND=postgres"
            )
        terms = set(toks)
        postings += len(terms)
        blocks.update((t, int(cid) >> pg_blocks.BLOCK_BITS) for t in terms)
    return [int(r[0]) for r in rows], blocks, postings


def _as_half(column: str, dim: int) -> str:
    """The vector column cast to half precision: the half-precision HNSW index's expression, which a search must
    order by exactly as written for the planner to use that index."""
    return f"{column}::halfvec({int(dim)})"


def _hnsw_index(cur: Any, dim: int, m: int, ef_construction: int) -> str:
    """Make sure the chunks have their HNSW index; returns its precision. A new one is built over the vectors
    cast to half precision (pgvector's halfvec): half the size of a full-precision graph, so more of it stays in
    memory, while scores are still computed from the stored full vectors (`dense_top`). An index an earlier
    version built at full precision is kept as it is ("full")."""
    cur.execute("SELECT to_regclass('rag_chunks_hnsw') IS NOT NULL")
    if cur.fetchone()[0]:
        return "full"
    cur.execute(
        f"CREATE INDEX IF NOT EXISTS rag_chunks_hnsw_half ON rag_chunks USING hnsw (({_as_half('embedding', dim)}) "
        f"halfvec_ip_ops) WITH (m = {int(m)}, ef_construction = {int(ef_construction)})"
    )
    return "half"


def _insert(cur: Any, changes: Changes, bm25_outlet: bool, new: pg_blocks.NewPostings) -> None:
    """COPY the new articles and chunks (with vectors); each new posting, with its chunk's outlet code (new
    outlets get theirs in `rag_outlets`) and days, into `new` for the term blocks."""
    with cur.copy("COPY rag_articles (id, outlet, title, published, url, body, source, hash) FROM STDIN") as copy:
        for a in changes.add_articles:
            copy.write_row((a.id, a.outlet, a.title, a.published, a.url, a.body, a.source, a.hash))
    if not changes.add_chunks:
        return
    arts = {a.id: a for a in changes.add_articles}
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
    cur.execute("SELECT outlet_cf, code FROM rag_outlets")
    codes = dict(cur.fetchall())
    fresh = sorted({w[0] for w in where_of} - set(codes))
    start = max(codes.values(), default=-1) + 1
    codes.update({o: start + i for i, o in enumerate(fresh)})
    if fresh:
        cur.execute(
            "INSERT INTO rag_outlets (code, outlet_cf) SELECT * FROM unnest(%s::int[], %s::text[])",
            [[codes[o] for o in fresh], fresh],
        )
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
    for c, toks, (outlet, first, last) in zip(changes.add_chunks, tokens, where_of, strict=True):
        max_span = max(max_span, _span(first, last))
        new.chunk(c.id, codes[outlet], pg_blocks.chunk_days(first, last))
        for term, tf in Counter(toks).items():
            new.add(term, c.id, tf, len(toks))
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
        return self._b.article_chunks([article_id])


def open_postgres(settings: Any, index_dir: Any = None) -> PostgresBackend:
    return PostgresBackend(settings.pg_dsn, settings.pg_replica_dsn, settings.model)


register("postgres", open_postgres)
