"""The PostgreSQL backend against a real server: same answers as the local index, atomic updates across a
server crash, clear errors for a wrong DSN, SQL-looking input kept inert, concurrent app processes."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from rag.config import Settings
from tests.cluster.conftest import new_database
from tests.conftest import EVAL_DIR
from tests.reliability.helpers import ROOT, rag_env, run_rag

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

SEEDS_DEV = EVAL_DIR / "seeds_dev.jsonl"


def _questions() -> list[str]:
    return [json.loads(line)["question"] for line in SEEDS_DEV.read_text().splitlines() if line.strip()]


def _result(pipe, question: str, **filters) -> tuple:
    query = pipe.search_query(question, **filters)
    hits = [(h.chunk.id, round(h.score, 6), round(h.dense, 5)) for h in pipe.retrieve(query, 10)]
    answer = pipe.ask(question, **filters)
    return hits, answer.text, answer.refused, [(c.article_id, c.start, c.end) for c in answer.citations]


def test_postgres_answers_as_the_local_index(seed_pipeline, pg_seed: Settings) -> None:
    from rag.pipeline import Pipeline

    pg = Pipeline(pg_seed)
    assert pg.retriever.backend.name == "postgres"
    for q in _questions():
        assert _result(pg, q) == _result(seed_pipeline, q), q
    # Filters (outlet, dates) go through SQL on one side and masks on the other.
    for filters in ({"outlets": ["Dawn"]}, {"since": "2026-03-06"}, {"outlets": ["Al Jazeera"], "until": "2026-03-05"}):
        q = "What did Stephen Miller say about cartels?"
        assert _result(pg, q, **filters) == _result(seed_pipeline, q, **filters), filters
    # A follow-up also searches its own words within the articles the last answer cited (`SearchQuery.focus`):
    # the same chunks of them on both sides, and the same answer.
    from rag.types import Turn

    first = seed_pipeline.ask("What did Stephen Miller say about cartels?")
    history = [Turn.from_answer(first)]
    focus = list(history[0].articles)
    assert focus and pg.retriever.backend.article_chunks(focus) == seed_pipeline.retriever.backend.article_chunks(focus)
    follow = seed_pipeline.search_query("What did he compare the cartels to?", history)
    assert follow.focus == focus
    local_answer, pg_answer = seed_pipeline.ask(follow.question, history), pg.ask(follow.question, history)
    assert (pg_answer.text, pg_answer.citations) == (local_answer.text, local_answer.citations)
    # The sentence vectors the answerer scores with are the same rows on both sides.
    ids = sorted(seed_pipeline.index.chunks)
    local, remote = seed_pipeline.retriever.backend.sentences(ids), pg.retriever.backend.sentences(ids)
    assert local is not None and remote is not None and len(remote) == len(local)
    for cid, start, _ in local.keys.tolist():
        assert remote.lookup(cid, start) is not None
        assert (remote.lookup(cid, start) == local.lookup(cid, start)).all()


def test_rag_eval_seeds_gives_the_same_result(seed_index: Settings, pg_seed: Settings) -> None:
    local = run_rag("eval", SEEDS_DEV, "--json", env=rag_env(RAG_INDEX_DIR=seed_index.index_dir))
    pg = run_rag("eval", SEEDS_DEV, "--json", env=rag_env(RAG_BACKEND="postgres", RAG_PG_DSN=pg_seed.pg_dsn))
    assert local.returncode == pg.returncode == 0, pg.stderr[-2000:]
    strip = lambda out: {k: v for k, v in json.loads(out)["summary"].items() if "seconds" not in k}  # noqa: E731
    assert strip(pg.stdout) == strip(local.stdout)
    passed = lambda out: [i["passed"] for i in json.loads(out)["items"]]  # noqa: E731
    assert passed(pg.stdout) == passed(local.stdout)


NEW_ARTICLE = """---
outlet: The Quoted "Outlet"; DROP TABLE rag_chunks; --
title: Harbour authority opens a new ferry terminal
published: 2026-03-10
url: https://example.org/ferry-terminal
---
The harbour authority opened a new ferry terminal on Tuesday. "It doubles our capacity," said director
Ingrid Vasquez-Oyelaran, adding that 40 crossings a day will leave from the terminal from April.
"""


def test_a_database_killed_mid_update_keeps_the_old_index_and_a_rerun_completes_it(
    seed_index: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rag.backends import postgres
    from rag.backends.migrate import copy_local
    from rag.indexer import update_index
    from rag.pgserver import LocalPostgres
    from rag.pipeline import Pipeline

    server = LocalPostgres.start()  # its own server (in /tmp: pytest's folders are closed to its user): it is killed
    try:
        dsn = new_database(server)
        copy_local(seed_index.index_dir, dsn)
        corpus = tmp_path / "corpus"
        import shutil

        shutil.copytree(seed_index.corpus_dir, corpus)
        (corpus / "ferry.md").write_text(NEW_ARTICLE, encoding="utf-8")
        settings = seed_index.model_copy(update={"backend": "postgres", "pg_dsn": dsn, "corpus_dir": corpus})
        before = Pipeline(settings)
        generation = before.retriever.backend.generation()
        q = "What did Ingrid Vasquez-Oyelaran say about the terminal?"
        assert before.ask(q).refused

        real_insert = postgres._insert

        killed = []

        def insert_then_crash(cur, changes, *args):  # noqa: ANN001, ANN002, ANN202
            out = real_insert(cur, changes, *args)  # rows written, transaction not committed
            server.kill()
            killed.append(True)
            return out

        monkeypatch.setattr(postgres, "_insert", insert_then_crash)
        with pytest.raises(Exception):  # noqa: B017 - the connection dies under the writer
            update_index(settings)
        assert killed  # the writer died mid-update, not before it
        monkeypatch.setattr(postgres, "_insert", real_insert)
        server.restart()

        after_crash = Pipeline(settings)
        assert after_crash.retriever.backend.generation() == generation
        assert len(after_crash.index.articles) == 5
        assert after_crash.ask(q).refused
        summary = update_index(settings)  # the rerun
        assert (summary.added, summary.embedded_chunks > 0) == (1, True)
        fresh = Pipeline(settings)
        assert fresh.retriever.backend.generation() != generation
        answer = fresh.ask(q)
        assert not answer.refused
        assert "https://example.org/ferry-terminal" in {c.article_id for c in answer.citations}
        assert update_index(settings).unchanged == 6  # nothing left to do
    finally:
        server.stop(remove=True)


@pytest.mark.parametrize(
    "dsn, says",
    [
        ("postgresql://nobody@127.0.0.1:1/rag", "cannot connect to PostgreSQL at nobody@127.0.0.1:1/rag"),
        ("postgresql://u:secret@no-such-host.invalid:5432/rag", "cannot connect to PostgreSQL"),
        ("", "RAG_BACKEND=postgres needs RAG_PG_DSN"),
    ],
)
def test_a_wrong_dsn_gives_one_line_saying_what_to_do(dsn: str, says: str) -> None:
    out = run_rag("ask", "What did Miller say?", env=rag_env(RAG_BACKEND="postgres", RAG_PG_DSN=dsn), timeout=60)
    assert out.returncode == 1
    noise = ("Warning", "return Path")  # platformdirs' XDG_RUNTIME_DIR warning, from a dependency
    lines = [line for line in out.stderr.splitlines() if line.strip() and not any(n in line for n in noise)]
    assert len(lines) == 1, out.stderr
    assert says in lines[0] and ("RAG_PG_DSN" in lines[0])
    assert "secret" not in out.stderr  # the password is never printed


def test_a_database_without_an_index_says_how_to_build_one(pg_server) -> None:
    dsn = new_database(pg_server)
    out = run_rag("ask", "What did Miller say?", env=rag_env(RAG_BACKEND="postgres", RAG_PG_DSN=dsn), timeout=120)
    assert out.returncode == 1
    assert "run `rag index`" in out.stderr


def test_quotes_semicolons_and_sql_in_outlets_and_questions_are_harmless(pg_tmp: Settings) -> None:
    from rag.indexer import update_index
    from rag.pipeline import Pipeline

    (Path(pg_tmp.corpus_dir) / "ferry.md").write_text(NEW_ARTICLE, encoding="utf-8")
    assert update_index(pg_tmp).added == 1
    pipe = Pipeline(pg_tmp)
    outlet = 'The Quoted "Outlet"; DROP TABLE rag_chunks; --'
    assert outlet in pipe.retriever.outlets
    hits = pipe.retrieve(pipe.search_query("ferry terminal capacity", outlets=[outlet]))
    assert hits and {h.article.outlet for h in hits} == {outlet}
    for evil in ["x'; DROP TABLE rag_articles; --", "' OR '1'='1", 'Robert"); DELETE FROM rag_terms;--', "%s %(x)s \\"]:
        assert pipe.retrieve(pipe.search_query("ferry", outlets=[evil])) == []
        pipe.ask(f"What did {evil} say about the ferry terminal; DROP TABLE rag_manifest?")
        pipe.retrieve(pipe.search_query(evil, since="2026-01-01"))
    assert pipe.retriever.backend.status()["articles"] == 6  # every table still there and whole
    assert len(pipe.retrieve(pipe.search_query("ferry terminal capacity"))) > 0


PROMO = "Sign up to the Harbour Weekly newsletter for every story from the waterfront, free."


def test_page_furniture_is_counted_in_postgres_as_in_a_local_index(pg_tmp: Settings, tmp_path: Path) -> None:
    from rag.indexer import update_index
    from rag.pipeline import Pipeline

    stories = ["The ferry timetable changes in April.", "A new pier opens to anglers next week.",
               "The harbour master retires after 30 years."]  # fmt: skip
    for n, story in enumerate(stories):
        text = NEW_ARTICLE.replace("ferry-terminal", f"story-{n}").split("---\n", 2)
        (Path(pg_tmp.corpus_dir) / f"story{n}.md").write_text(f"---\n{text[1]}---\n{story} {PROMO}\n", "utf-8")
    assert update_index(pg_tmp).added == 3
    pg = Pipeline(pg_tmp)
    assert pg.retriever.repeated(PROMO) and not pg.retriever.repeated(stories[0])
    local = pg_tmp.model_copy(update={"backend": "local", "index_dir": tmp_path / "local"})
    update_index(local)
    keys = lambda pipe: sorted(pipe.retriever.backend.repeated().keys.tolist())  # noqa: E731
    assert keys(pg) == keys(Pipeline(local)) != []
    answer = pg.ask("What does the Harbour Weekly newsletter offer?")
    assert all(PROMO not in c.quote for c in answer.citations)


_USER = textwrap.dedent(
    """
    import json, sys, threading
    from rag.config import Settings
    from rag.pipeline import Pipeline
    settings = Settings(backend="postgres", pg_dsn=sys.argv[1], index_dir=sys.argv[2])
    questions = json.loads(sys.argv[3])
    pipe = Pipeline(settings)
    out, lock = {}, threading.Lock()
    def user(u):
        for i, q in enumerate(questions[u::4] + questions):
            a = pipe.ask(q)
            with lock:
                out.setdefault(q, set()).add(json.dumps([a.text, a.refused, [c.chunk_id for c in a.citations]]))
    threads = [threading.Thread(target=user, args=(u,)) for u in range(4)]
    [t.start() for t in threads]; [t.join() for t in threads]
    print(json.dumps({q: sorted(v) for q, v in out.items()}))
    """
)


def test_eight_users_in_two_processes_get_the_answers_of_one_user(pg_seed: Settings) -> None:
    from rag.pipeline import Pipeline

    questions = _questions()
    alone = Pipeline(pg_seed)
    expected = {}
    for q in questions:
        a = alone.ask(q)
        expected[q] = [json.dumps([a.text, a.refused, [c.chunk_id for c in a.citations]])]
    cmd = [sys.executable, "-c", _USER, pg_seed.pg_dsn, str(pg_seed.index_dir), json.dumps(questions)]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=rag_env())
             for _ in range(2)]  # fmt: skip
    for p in procs:
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0, err[-2000:]
        assert json.loads(out.strip().splitlines()[-1]) == expected


def test_dense_and_bm25_run_at_once_in_one_snapshot(pg_tmp: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """`candidates` runs the dense search on a second connection that imports the session's snapshot: an
    article removed by a writer in the middle of a search is still in both lists, and gone from the next."""
    import threading

    from rag.backends.postgres import PostgresBackend
    from rag.indexer import update_index
    from rag.text.tokens import tokenize

    backend = PostgresBackend(pg_tmp.pg_dsn)
    try:
        first = min(backend.chunk_ids(None))
        row = backend.fetch([first])[first]
        qvec, tokens = row.vector, tokenize([row.chunk.text])[0][:12]
        gone = set(backend.index.chunk_ids_for(row.chunk.article_id))
        threads: list[str] = []
        real = backend._dense_in
        monkeypatch.setattr(
            backend, "_dense_in", lambda *a: threads.append(threading.current_thread().name) or real(*a)
        )
        alone = backend.dense_top(qvec, 60, None, {}), backend.lexical_top(tokens, 60, None, {})
        assert backend.candidates(qvec, tokens, 60, None, {}) == alone and threads[-1].startswith("rag-pg")
        with backend.session():
            backend.chunk_count()  # the snapshot is taken here
            source = backend.articles([row.chunk.article_id])[row.chunk.article_id].source
            next(p for p in Path(pg_tmp.corpus_dir).rglob("*") if p.name == Path(source).name).unlink()
            assert update_index(pg_tmp).removed == 1  # committed by another connection meanwhile
            dense, lexical = backend.candidates(qvec, tokens, 60, None, {})
            assert first in {c for c, _ in dense} and first in {c for c, _ in lexical}
        dense, lexical = backend.candidates(qvec, tokens, 60, None, {})
        assert not gone & ({c for c, _ in dense} | {c for c, _ in lexical})
        # No second connection free (many users at once): one after the other, the same lists.
        monkeypatch.setattr(backend._reads, "try_get", lambda: None)
        calls = len(threads)
        assert backend.candidates(qvec, tokens, 60, None, {}) == (
            backend.dense_top(qvec, 60, None, {}),
            backend.lexical_top(tokens, 60, None, {}),
        )
        assert len(threads) == calls
    finally:
        backend.close()
