"""What an index holds, read without loading the model (for `rag status` and the app's sidebar)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from rag.config import Settings
from rag.store import load_index


def index_status(settings: Settings) -> dict[str, Any]:
    """Articles, chunks, outlets with article counts, model and build time of the current index."""
    m: Mapping[str, Any]
    if settings.backend == "postgres":
        from rag.backends.postgres import PostgresBackend

        backend = PostgresBackend(settings.pg_dsn, settings.pg_replica_dsn)  # type: ignore[arg-type]
        try:
            m, info = backend.manifest, backend.status()
            outlets = Counter(backend.outlet_counts())
            where, articles, chunks = info["server"], info["articles"], info["chunks"]
        finally:
            backend.close()
    else:
        index = load_index(settings.index_dir, verify=settings.verify_checksums)
        m = index.manifest
        outlets = Counter(a.outlet for a in index.articles.values())
        where, articles, chunks = str(settings.index_dir), len(index.articles), len(index.chunks)
    return {
        "index_dir": where,
        "articles": articles,
        "chunks": chunks,
        "outlets": dict(sorted(outlets.items(), key=lambda kv: (-kv[1], kv[0]))),
        "model": m["model"],
        "dimension": m["dimension"],
        "built_at": m["built_at"],
        "generation": m["generation"],
        "package_version": m.get("package_version"),
        "chunk_size": m.get("chunk_size"),
    }
