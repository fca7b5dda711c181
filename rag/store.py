"""The index on disk: FAISS vectors + SQLite metadata + `manifest.json`, written atomically, loaded validated.

Layout of an index folder::

    manifest.json        model, dimension, package version, build time, current generation, file SHA-256s
    gen-<id>/index.faiss IndexIDMap2 over inner-product vectors; FAISS ids are chunk ids
    gen-<id>/meta.sqlite articles (with body) and chunk spans
    gen-<id>/bm25/       the bm25s index (plain .npy/.json files)
    gen-<id>/sentence_*.npy  a vector for each quotable sentence of each chunk (`rag.sentence_vectors`)
    gen-<id>/repeated_sentences.npy  keys of the sentences repeated across articles: page furniture (`rag.boilerplate`)
    .lock                held by a writer (see `rag.indexer`)

A writer builds a complete new generation beside the current one, fsyncs it, then atomically replaces
`manifest.json` (the commit point) and only then deletes generations older than the previous one. A crash at
any moment therefore leaves a manifest that names a complete generation. Loading never unpickles: FAISS
reads its own binary format, metadata is SQLite, the manifest is JSON, and every file is checked against the
manifest's SHA-256 before FAISS parses it, so a truncated or altered file is refused rather than half-read.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import sqlite3
import struct
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Required, TypedDict, cast

import faiss
import numpy as np

from rag import __version__, vector_index
from rag.boilerplate import REPEATED_FILE, Repeated
from rag.config import BackendName, EmbedBackend
from rag.sentence_vectors import FILES as SENTENCE_FILES
from rag.sentence_vectors import SentenceFilesBroken, SentenceVectors
from rag.types import Article, ArticleRef, Chunk

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
FAISS_FILE = "index.faiss"
META_FILE = "meta.sqlite"
#: The bm25s index of a generation: plain .npy/.json files in this sub-folder, each under the manifest's checksums.
BM25_DIR = "bm25"
_REBUILD = "run `rag index --rebuild` to build a fresh index"


class Manifest(TypedDict, total=False):
    """`manifest.json` (and the postgres backend's manifest row): what an index is and how it was built."""

    format: Required[int]  # FORMAT_VERSION
    package_version: str
    built_at: Required[str]  # ISO 8601, UTC
    generation: Required[str]  # the current generation folder, "gen-<time>-<hex>"
    files: Required[dict[str, str]]  # file name → SHA-256 (empty for postgres)
    # Build settings an update must match (rag.indexer.build_fields).
    model: Required[str]
    dimension: Required[int]
    chunk_size: int
    chunk_overlap: int
    embed_title: bool
    embed_backend: EmbedBackend  # absent in indexes from before backends were recorded: "torch"
    chunks: int
    faiss_index: dict[str, Any]  # rag.vector_index.describe: {"type": "flat"} or HNSW's parameters
    bm25: dict[str, Any]  # {"outlet": bool, "method": "lucene"}; absent: BM25 indexed in memory on load
    # The postgres backend's (rag/backends/postgres.py).
    backend: BackendName
    schema: int
    vector_index: dict[str, Any]


_GENERATION = re.compile(r"gen-[A-Za-z0-9-]+")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS articles (
    id TEXT PRIMARY KEY, outlet TEXT NOT NULL, title TEXT NOT NULL, published TEXT NOT NULL,
    url TEXT NOT NULL, body TEXT NOT NULL, source TEXT NOT NULL, hash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY, article_id TEXT NOT NULL REFERENCES articles(id), start INTEGER NOT NULL,
    "end" INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_article ON chunks(article_id);
"""


class IndexProblem(Exception):
    """Base for index problems; the message always says what to do next."""


class IndexNotFound(IndexProblem):
    pass


class IndexCorrupt(IndexProblem):
    pass


class IndexMismatch(IndexProblem):
    """The index was built with another model, dimension or chunking than the settings ask for."""


class IndexWriteFailed(IndexProblem):
    """A new generation could not be written (disk full, permissions); the message says what is on disk."""


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_file(path: Path) -> None:
    with path.open("rb") as f:
        os.fsync(f.fileno())


def read_manifest(index_dir: Path) -> Manifest:
    """The parsed manifest; `IndexNotFound` if there is none, `IndexCorrupt` if it is not valid."""
    path = index_dir / MANIFEST
    if not path.exists():
        raise IndexNotFound(f"no index in '{index_dir}': run `rag index` to build one")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IndexCorrupt(f"the manifest in '{index_dir}' is unreadable ({exc}); {_REBUILD}") from None
    if not isinstance(manifest, dict):
        raise IndexCorrupt(f"the manifest in '{index_dir}' is not a JSON object; {_REBUILD}")
    # A newer (or older) layout is named as such before its fields are judged by this version's rules.
    if "format" in manifest and manifest["format"] != FORMAT_VERSION:
        raise IndexMismatch(
            f"the index in '{index_dir}' has format {manifest['format']}, this version reads {FORMAT_VERSION}; "
            + _REBUILD
        )
    required = {"format", "model", "dimension", "generation", "files", "built_at"}
    if not required <= manifest.keys():
        raise IndexCorrupt(f"the manifest in '{index_dir}' is incomplete; {_REBUILD}")
    files = manifest["files"]
    well_typed = (
        isinstance(manifest["model"], str)
        and type(manifest["dimension"]) is int
        and manifest["dimension"] > 0
        and isinstance(manifest["generation"], str)
        # A generation is a folder directly inside the index folder, never a path leading out of it.
        and _GENERATION.fullmatch(manifest["generation"]) is not None
        and isinstance(files, dict)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in files.items())
    )
    if not well_typed:
        raise IndexCorrupt(f"the manifest in '{index_dir}' has malformed fields; {_REBUILD}")
    return cast(Manifest, manifest)


def check_compatible(manifest: Mapping[str, Any], model: str, expect: dict[str, Any] | None = None) -> None:
    """Refuse an index built with another model (or other build settings named in `expect`)."""
    if manifest["model"] != model:
        raise IndexMismatch(
            f"the index was built with model '{manifest['model']}' but the settings ask for '{model}'; "
            f"{_REBUILD} (or set RAG_MODEL={manifest['model']})"
        )
    for key, value in (expect or {}).items():
        if key in manifest and manifest[key] != value:
            raise IndexMismatch(f"the index was built with {key}={manifest[key]!r}, settings say {value!r}; {_REBUILD}")


@dataclass
class IndexData:
    """A loaded index, fully in memory: vectors in FAISS, articles and chunks in dicts."""

    path: Path
    manifest: Manifest
    faiss_index: faiss.Index
    articles: dict[str, Article]
    hashes: dict[str, str]  # article id → content hash
    chunks: dict[int, Chunk]  # chunk id → chunk
    refs: dict[str, ArticleRef] = field(default_factory=dict)
    sentences: SentenceVectors | None = None  # None: an index built before sentences had vectors
    repeated: Repeated | None = None  # page furniture (`rag.boilerplate`); None: an index built before it was kept

    def __post_init__(self) -> None:
        if not self.refs:
            self.refs = {a.id: ArticleRef(a.id, a.outlet, a.title, a.published, a.url) for a in self.articles.values()}

    @property
    def dimension(self) -> int:
        return int(self.manifest["dimension"])

    def chunk_ids_for(self, article_id: str) -> list[int]:
        return [cid for cid, c in self.chunks.items() if c.article_id == article_id]


def _load_sqlite(path: Path) -> tuple[dict[str, Article], dict[str, str], dict[int, Chunk]]:
    # Opened read-only by URI so a reader can never modify or lock a generation.
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        articles: dict[str, Article] = {}
        hashes: dict[str, str] = {}
        for row in conn.execute("SELECT id, outlet, title, published, url, body, source, hash FROM articles"):
            art = Article(*row[:7])
            articles[art.id] = art
            hashes[art.id] = row[7]
        chunks: dict[int, Chunk] = {}
        for cid, aid, start, end in conn.execute('SELECT id, article_id, start, "end" FROM chunks ORDER BY id'):
            body = articles[aid].body
            chunks[cid] = Chunk(article_id=aid, start=start, end=end, text=body[start:end], id=cid)
    finally:
        conn.close()
    return articles, hashes, chunks


#: FAISS's serialised IndexIDMap2 over IndexFlatIP/L2 (faiss/impl/index_write.cpp): an index header is
#: fourcc(4) d:int32 ntotal:int64 two unused int64 is_trained:uint8 metric:int32 = 37 bytes; the map's header,
#: the flat index's header, the vectors (a uint64 count of float32 values, then the values), then the ids
#: (a uint64 count, then int64s). 37 + 37 + 8 + 8 = 90 bytes besides ntotal * (4 * d + 8).
_HEADER = struct.Struct("<4siqqqBi")
#: Flat index fourcc → its metric (faiss.METRIC_INNER_PRODUCT = 0, METRIC_L2 = 1): a flipped metric would
#: silently rank by another measure.
_FLAT_FOURCCS = {b"IxFI": 0, b"IxF2": 1}


def _check_faiss_layout(path: Path, manifest: Manifest) -> bool:
    """Refuse a FAISS file whose sizes disagree with the manifest or with its own length, before FAISS reads it.

    FAISS allocates whatever its header claims (a flipped byte can ask for gigabytes) before it notices the
    file is short, so the layout this package writes is checked here first. Returns False for a layout this
    check does not know (another FAISS index type), so that the caller verifies the checksum instead.
    """
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(2 * _HEADER.size + 8)
        if len(head) < 2 * _HEADER.size + 8:
            raise IndexCorrupt(f"index file '{path}' is truncated ({size} bytes); {_REBUILD}")
        outer, inner = _HEADER.unpack_from(head, 0), _HEADER.unpack_from(head, _HEADER.size)
        if outer[0] != b"IxM2" or inner[0] not in _FLAT_FOURCCS:
            return False
        (floats,) = struct.unpack_from("<Q", head, 2 * _HEADER.size)
        d, ntotal = outer[1], outer[2]
        expected_chunks = manifest.get("chunks", ntotal)
        ids_at = 2 * _HEADER.size + 8 + 4 * floats
        ok = (
            d == inner[1] == manifest["dimension"]
            and ntotal == inner[2] == expected_chunks
            and ntotal >= 0
            and outer[5] == inner[5] == 1  # is_trained: a flat index always is
            and outer[6] == inner[6] == _FLAT_FOURCCS[inner[0]]
            and floats == ntotal * d
            and size == ids_at + 8 + ntotal * 8
        )
        if ok:
            f.seek(ids_at)
            ok = struct.unpack("<Q", f.read(8))[0] == ntotal
    if not ok:
        raise IndexCorrupt(
            f"index file '{path}' is damaged (its header does not match its size or the manifest); {_REBUILD}"
        )
    return True


def load_index(index_dir: Path, model: str | None = None, verify: bool = True, _retry: bool = True) -> IndexData:
    """Load and validate the current generation; raise an `IndexProblem` whose message says what to do."""
    index_dir = Path(index_dir)
    manifest = read_manifest(index_dir)
    if model is not None:
        check_compatible(manifest, model)
    gen = index_dir / str(manifest["generation"])
    if not gen.is_dir() and _retry:
        # A writer may have switched generations between our reading the manifest and opening the files.
        time.sleep(0.05)
        return load_index(index_dir, model, verify, _retry=False)
    files = manifest["files"]
    extra = sorted(name for name in files if name.startswith(f"{BM25_DIR}/") and ".." not in name)
    extra += [name for name in (*SENTENCE_FILES, REPEATED_FILE) if name in files]
    for name in (FAISS_FILE, META_FILE, *extra):
        path = gen / name
        if not path.is_file():
            raise IndexCorrupt(f"index file '{path}' is missing; {_REBUILD}")
        if verify and sha256_file(path) != files.get(name):
            raise IndexCorrupt(f"index file '{path}' does not match its checksum (truncated or altered); {_REBUILD}")
    faiss_path = gen / FAISS_FILE
    # FAISS trusts the sizes written in its file, so its header is checked first even when checksums are off;
    # a layout we cannot check is hashed instead (see `_check_faiss_layout`).
    if (
        not _check_faiss_layout(faiss_path, manifest)
        and not verify
        and sha256_file(faiss_path) != files.get(FAISS_FILE)
    ):
        raise IndexCorrupt(f"index file '{faiss_path}' does not match its checksum (truncated or altered); {_REBUILD}")
    try:
        fidx = faiss.read_index(str(faiss_path))
    except (RuntimeError, MemoryError) as exc:
        raise IndexCorrupt(f"FAISS could not read '{faiss_path}' ({exc}); {_REBUILD}") from None
    try:
        articles, hashes, chunks = _load_sqlite(gen / META_FILE)
    except (sqlite3.DatabaseError, KeyError, TypeError) as exc:
        raise IndexCorrupt(f"index metadata '{gen / META_FILE}' is broken ({exc}); {_REBUILD}") from None
    id_map = getattr(fidx, "id_map", None)
    ids_match = id_map is None or set(faiss.vector_to_array(id_map).tolist()) == chunks.keys()
    if fidx.d != manifest["dimension"] or fidx.ntotal != len(chunks) or not ids_match:
        raise IndexCorrupt(
            f"index in '{index_dir}' is inconsistent ({fidx.ntotal} vectors of dimension {fidx.d}, "
            f"{len(chunks)} chunks, manifest dimension {manifest['dimension']}"
            f"{'' if ids_match else ', vector ids that are not the chunk ids'}); {_REBUILD}"
        )
    sentences = None
    if all(name in files for name in SENTENCE_FILES):
        try:
            sentences = SentenceVectors.load(gen, int(manifest["dimension"]), chunks.keys())
        except SentenceFilesBroken as exc:
            raise IndexCorrupt(f"index in '{index_dir}' is inconsistent: {exc}; {_REBUILD}") from None
    repeated = None
    if REPEATED_FILE in files:
        try:
            repeated = Repeated.load(gen)
        except (ValueError, OSError, EOFError) as exc:  # np.load's errors for a file that is not an .npy array
            raise IndexCorrupt(f"index file '{gen / REPEATED_FILE}' is broken ({exc}); {_REBUILD}") from None
    return IndexData(index_dir, manifest, fidx, articles, hashes, chunks, sentences=sentences, repeated=repeated)


def new_faiss_index(dimension: int) -> faiss.Index:
    """Exact inner-product search with our own int64 ids (IDMap2 also lets us reconstruct vectors)."""
    return vector_index.new_index(dimension, vector_index.FLAT)


@dataclass
class Changes:
    """What a writer changes relative to the previous generation."""

    remove_articles: list[str] = field(default_factory=list)
    add_articles: list[Article] = field(default_factory=list)
    add_chunks: list[Chunk] = field(default_factory=list)  # ids already assigned
    add_vectors: np.ndarray | None = None
    add_sentences: SentenceVectors | None = None  # vectors of the added chunks' sentences


def write_generation(
    index_dir: Path,
    previous: IndexData | None,
    changes: Changes,
    manifest_fields: dict[str, Any],
    ann: vector_index.AnnPolicy | None = None,
    bm25_outlet: bool | None = True,
) -> Manifest:
    """Write a new generation = previous + changes, then switch the manifest to it. Returns the manifest.

    The caller holds the index lock. Until the final `os.replace`, nothing a reader looks at has changed.
    The FAISS index type follows the new size (`ann`, see `rag.vector_index`) and is named in the manifest.
    The bm25s index of the new generation is saved beside them (`BM25_DIR`, BM25 text with the outlet name
    when `bm25_outlet`; None: no BM25 files, the reader indexes in memory).
    """
    index_dir.mkdir(parents=True, exist_ok=True)
    gen_name = f"gen-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(3)}"
    tmp = index_dir / f".tmp-{gen_name}"
    tmp.mkdir()
    try:
        meta = tmp / META_FILE
        if previous is not None:
            shutil.copyfile(previous.path / str(previous.manifest["generation"]) / META_FILE, meta)
        _apply_sqlite(meta, changes)
        gone = set(changes.remove_articles)
        remove = (
            [cid for cid, c in previous.chunks.items() if c.article_id in gone] if previous is not None and gone else []
        )
        if changes.add_chunks:
            assert changes.add_vectors is not None and len(changes.add_vectors) == len(changes.add_chunks)
        fidx = vector_index.apply_changes(
            previous.faiss_index if previous is not None else None,
            int(manifest_fields["dimension"]) if previous is None else previous.faiss_index.d,
            np.asarray(remove, dtype=np.int64),
            np.asarray([c.id for c in changes.add_chunks], dtype=np.int64),
            changes.add_vectors,
            ann or vector_index.AnnPolicy(),
        )
        faiss.write_index(fidx, str(tmp / FAISS_FILE))
        names = [FAISS_FILE, META_FILE]
        if bm25_outlet is not None:
            names += _write_bm25(tmp, previous, changes, bm25_outlet)
        sentences = _sentences(previous, changes, remove, fidx.d)
        if sentences is not None:
            names += sentences.save(tmp)
        names.append(_repeated(previous, changes).save(tmp))
        for name in names:
            _fsync_file(tmp / name)
        if bm25_outlet is not None:
            _fsync_dir(tmp / BM25_DIR)
        _fsync_dir(tmp)
        final = index_dir / gen_name
        os.replace(tmp, final)
        manifest = {
            "format": FORMAT_VERSION,
            "package_version": __version__,
            "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
            **manifest_fields,
            "generation": gen_name,
            "files": {name: sha256_file(final / name) for name in names},
            "chunks": int(fidx.ntotal),
            "faiss_index": vector_index.describe(fidx),
        }
        if bm25_outlet is not None:
            manifest["bm25"] = {"outlet": bool(bm25_outlet), "method": "lucene"}
        _commit_manifest(index_dir, manifest)
    except (OSError, RuntimeError) as exc:  # RuntimeError: FAISS's own write errors
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            committed = read_manifest(index_dir)["generation"] == gen_name
        except IndexProblem:
            committed = False
        state = "the new index was saved" if committed else "the previous index is unchanged"
        raise IndexWriteFailed(
            f"could not write the index in '{index_dir}' ({exc}); {state}. "
            "Free some disk space or fix the folder's permissions, then run `rag index` again"
        ) from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    keep = {gen_name, str(previous.manifest["generation"])} if previous is not None else {gen_name}
    _remove_stale(index_dir, keep)
    return cast(Manifest, manifest)  # the build fields come as a plain dict


def _sentences(
    previous: IndexData | None, changes: Changes, removed_chunks: list[int], dimension: int
) -> SentenceVectors | None:
    """The sentence vectors of the new generation (previous minus removed chunks plus added); None if neither
    the previous generation nor the change has any (an index built without them stays without)."""
    before = previous.sentences if previous is not None else None
    if before is None and changes.add_sentences is None:
        return None
    kept = before.without_chunks(removed_chunks) if before is not None else SentenceVectors.empty(dimension)
    return SentenceVectors.concat([kept, changes.add_sentences or SentenceVectors.empty(dimension)], dimension)


def _repeated(previous: IndexData | None, changes: Changes) -> Repeated:
    """The furniture sentences of the new generation, counted over all its articles (`rag.boilerplate`)."""
    gone = set(changes.remove_articles)
    kept = [a.body for a in previous.articles.values() if a.id not in gone] if previous is not None else []
    return Repeated.of([*kept, *(a.body for a in changes.add_articles)])


def _write_bm25(tmp: Path, previous: IndexData | None, changes: Changes, with_outlet: bool) -> list[str]:
    """Save the bm25s index of the new generation (previous chunks minus removed plus added, by chunk id)."""
    from rag.backends.local import build_bm25, save_bm25

    gone = set(changes.remove_articles)
    articles = {a: art for a, art in (previous.articles.items() if previous else []) if a not in gone}
    articles.update({a.id: a for a in changes.add_articles})
    chunks = {cid: c for cid, c in (previous.chunks.items() if previous else []) if c.article_id not in gone}
    chunks.update({c.id: c for c in changes.add_chunks})
    view = IndexData(tmp, {}, None, articles, {}, chunks)  # type: ignore[arg-type, typeddict-item]
    bm25 = build_bm25(view, np.fromiter(sorted(chunks), dtype=np.int64, count=len(chunks)), with_outlet)
    folder = tmp / BM25_DIR
    folder.mkdir()
    return save_bm25(bm25, folder)


def _apply_sqlite(path: Path, changes: Changes) -> None:
    conn = sqlite3.connect(path)
    try:
        conn.executescript(_SCHEMA)
        with conn:
            for aid in changes.remove_articles:
                conn.execute("DELETE FROM chunks WHERE article_id = ?", (aid,))
                conn.execute("DELETE FROM articles WHERE id = ?", (aid,))
            conn.executemany(
                "INSERT INTO articles VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(a.id, a.outlet, a.title, a.published, a.url, a.body, a.source, a.hash) for a in changes.add_articles],
            )
            conn.executemany(
                'INSERT INTO chunks (id, article_id, start, "end") VALUES (?, ?, ?, ?)',
                [(c.id, c.article_id, c.start, c.end) for c in changes.add_chunks],
            )
        conn.execute("VACUUM")
    finally:
        conn.close()


def _commit_manifest(index_dir: Path, manifest: Mapping[str, Any]) -> None:
    tmp = index_dir / f".{MANIFEST}.tmp"
    with tmp.open("w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=2, ensure_ascii=False)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, index_dir / MANIFEST)
    _fsync_dir(index_dir)


def _remove_stale(index_dir: Path, keep: Iterable[str]) -> None:
    """Delete generations other than `keep` and leftovers of interrupted writers (caller holds the lock)."""
    keep = set(keep)
    for entry in index_dir.iterdir():
        if entry.is_dir() and (
            entry.name.startswith(".tmp-gen-") or (entry.name.startswith("gen-") and entry.name not in keep)
        ):
            shutil.rmtree(entry, ignore_errors=True)


def clean_leftovers(index_dir: Path) -> None:
    """Remove what interrupted writers left (temp folders, unreferenced generations); caller holds the lock."""
    if not index_dir.is_dir():
        return
    try:
        keep = {str(read_manifest(index_dir)["generation"])}
    except IndexNotFound:
        keep = set()  # never committed: any generation folder is an interrupted first build
    except IndexProblem:
        # An unreadable manifest, or one of another format version: its generations are left alone (a newer
        # version of this package may still read them, and `--rebuild` removes them once it has committed).
        keep = {entry.name for entry in index_dir.iterdir()}
    (index_dir / f".{MANIFEST}.tmp").unlink(missing_ok=True)
    _remove_stale(index_dir, keep)
