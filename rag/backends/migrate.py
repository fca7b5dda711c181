"""Copy a local index (FAISS + SQLite) into PostgreSQL without re-embedding: `python -m rag.backends.migrate`.

The vectors, chunk spans and articles are taken as they are, so the PostgreSQL index answers exactly as the
local one (the evaluation in docs/scaling.md uses it). The copy is one `PostgresBackend.apply` transaction.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from rag import vector_index
from rag.backends.postgres import PostgresBackend
from rag.store import Changes, load_index

#: Manifest fields an index is checked against when it is updated (rag.indexer.build_fields).
_FIELDS = ("model", "dimension", "chunk_size", "chunk_overlap", "embed_title", "embed_backend")


def copy_local(index_dir: Path, dsn: str, bm25_outlet: bool = True, ann_threshold: int = 50_000) -> dict:
    index = load_index(index_dir)
    ids, vecs = vector_index.vectors(index.faiss_index)
    order = np.argsort(ids)
    ids, vecs = ids[order], np.asarray(vecs)[order]
    chunks = [index.chunks[int(i)] for i in ids]
    manifest, hashes, _ = PostgresBackend.current(dsn)
    changes = Changes(
        remove_articles=list(hashes),
        add_articles=list(index.articles.values()),
        add_chunks=chunks,
        add_vectors=vecs,
        add_sentences=index.sentences,
    )
    fields = {k: v for k, v in index.manifest.items() if k in _FIELDS}
    fields.setdefault("embed_backend", "torch")
    return PostgresBackend.apply(
        dsn, changes, fields, manifest["generation"] if manifest else None, ann_threshold, bm25_outlet=bm25_outlet
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("index_dir", type=Path)
    p.add_argument("dsn")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    m = copy_local(args.index_dir, args.dsn)
    print(f"copied {m['chunks']} chunks into {m['generation']} in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
