"""The index on disk: a small real index (random vectors, no model) written, loaded, and refused when wrong.

Every refusal must say what to do: `rag index` when there is no index, `rag index --rebuild` otherwise.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, get_args

import numpy as np
import pytest

from rag.chunking import chunk_article
from rag.store import (
    FAISS_FILE,
    MANIFEST,
    META_FILE,
    Changes,
    IndexCorrupt,
    IndexMismatch,
    IndexNotFound,
    IndexProblem,
    Manifest,
    check_compatible,
    load_index,
    read_manifest,
    write_generation,
)
from rag.types import Article, Chunk
from rag.vector_index import IndexKind

MODEL = "test/model"
DIM = 8
REBUILD = "rag index --rebuild"


def _articles() -> list[Article]:
    body = " ".join(f"Sentence {i} of the report says the talks went on until late at night." for i in range(40))
    return [
        Article(
            id=f"https://example.com/{n}",
            outlet=o,
            title=f"Story {n}",
            published=d,
            url=f"https://example.com/{n}",
            body=body,
        )
        for n, o, d in [(1, "Reuters", "2024-01-02"), (2, "AP", "2024-02")]
    ]


def _fields() -> dict[str, Any]:
    return {"model": MODEL, "dimension": DIM, "chunk_size": 1000, "chunk_overlap": 200, "embed_title": True}


def _vectors(n: int, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=(n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


@pytest.fixture
def index_dir(tmp_path: Path) -> Path:
    """A complete index of two articles, written the way `rag index` writes one."""
    chunks: list[Chunk] = []
    for art in _articles():
        for c in chunk_article(art):
            chunks.append(Chunk(c.article_id, c.start, c.end, c.text, id=len(chunks)))
    path = tmp_path / "index"
    write_generation(
        path, None, Changes(add_articles=_articles(), add_chunks=chunks, add_vectors=_vectors(len(chunks))), _fields()
    )
    return path


def _edit_manifest(index_dir: Path, **changes: Any) -> None:
    path = index_dir / MANIFEST
    manifest = json.loads(path.read_text())
    manifest.update(changes)
    path.write_text(json.dumps(manifest))


def _refused(exc_type: type[IndexProblem], index_dir: Path, model: str | None = MODEL) -> str:
    with pytest.raises(exc_type) as info:
        load_index(index_dir, model)
    return str(info.value)


def test_round_trip(index_dir: Path) -> None:
    index = load_index(index_dir, MODEL)
    assert set(index.articles) == {a.id for a in _articles()}
    assert index.faiss_index.ntotal == len(index.chunks) > 2
    assert index.dimension == DIM
    for chunk in index.chunks.values():
        assert index.articles[chunk.article_id].body[chunk.start : chunk.end] == chunk.text
    manifest = read_manifest(index_dir)
    assert {"model", "dimension", "package_version", "built_at", "generation", "files"} <= manifest.keys()
    assert manifest["model"] == MODEL and manifest["dimension"] == DIM


def test_the_written_manifest_is_the_typed_one(index_dir: Path) -> None:
    """Every key `write_generation` writes is declared in `Manifest`, and every required one is written."""
    manifest = read_manifest(index_dir)
    assert Manifest.__required_keys__ <= set(manifest) <= set(Manifest.__annotations__)
    assert manifest["faiss_index"]["type"] in get_args(IndexKind)


def test_missing_index_says_run_rag_index(tmp_path: Path) -> None:
    message = _refused(IndexNotFound, tmp_path / "nowhere")
    assert "rag index" in message


@pytest.mark.parametrize("content", ["{not json", "", "[1, 2, 3]", '"a string"', "\udcff"])
def test_unreadable_manifest_is_refused(index_dir: Path, content: str) -> None:
    (index_dir / MANIFEST).write_bytes(content.encode("utf-8", "surrogateescape"))
    assert REBUILD in _refused(IndexCorrupt, index_dir)


@pytest.mark.parametrize("key", ["model", "dimension", "generation", "files", "built_at"])
def test_incomplete_manifest_is_refused(index_dir: Path, key: str) -> None:
    manifest = json.loads((index_dir / MANIFEST).read_text())
    del manifest[key]
    (index_dir / MANIFEST).write_text(json.dumps(manifest))
    assert REBUILD in _refused(IndexCorrupt, index_dir)


@pytest.mark.parametrize(
    "changes",
    [
        {"dimension": "8"},
        {"dimension": 0},
        {"model": None},
        {"files": ["index.faiss"]},
        {"files": {"index.faiss": 1}},
        {"generation": "../../elsewhere"},
        {"generation": "/etc"},
    ],
)
def test_malformed_fields_are_refused(index_dir: Path, changes: dict[str, Any]) -> None:
    _edit_manifest(index_dir, **changes)
    assert REBUILD in _refused(IndexCorrupt, index_dir)


def test_other_model_is_refused(index_dir: Path) -> None:
    message = _refused(IndexMismatch, index_dir, model="sentence-transformers/other-model")
    assert REBUILD in message and MODEL in message and "other-model" in message


def test_other_format_is_refused(index_dir: Path) -> None:
    _edit_manifest(index_dir, format=99)
    message = _refused(IndexMismatch, index_dir)
    assert REBUILD in message and "99" in message


def test_other_dimension_is_refused(index_dir: Path) -> None:
    manifest = read_manifest(index_dir)
    with pytest.raises(IndexMismatch, match="dimension") as info:
        check_compatible(manifest, MODEL, {"dimension": 384})
    assert REBUILD in str(info.value)
    # A manifest whose dimension disagrees with the vectors it names is refused on load.
    _edit_manifest(index_dir, dimension=384)
    assert REBUILD in _refused(IndexCorrupt, index_dir)


def test_other_chunking_is_refused(index_dir: Path) -> None:
    with pytest.raises(IndexMismatch, match="chunk_size"):
        check_compatible(read_manifest(index_dir), MODEL, {"chunk_size": 500})


def test_matching_settings_pass(index_dir: Path) -> None:
    check_compatible(read_manifest(index_dir), MODEL, _fields())


@pytest.mark.parametrize("name", [FAISS_FILE, META_FILE])
def test_altered_or_truncated_files_are_refused(index_dir: Path, name: str) -> None:
    path = index_dir / read_manifest(index_dir)["generation"] / name
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    assert REBUILD in _refused(IndexCorrupt, index_dir)


@pytest.mark.parametrize("name", [FAISS_FILE, META_FILE])
def test_missing_files_are_refused(index_dir: Path, name: str) -> None:
    (index_dir / read_manifest(index_dir)["generation"] / name).unlink()
    assert REBUILD in _refused(IndexCorrupt, index_dir)


def test_failed_write_leaves_the_previous_index_usable(index_dir: Path) -> None:
    before = (index_dir / MANIFEST).read_bytes()
    previous = load_index(index_dir, MODEL)
    extra = Article(id="x", outlet="AFP", title="T", published="", url="", body="A new article body sentence.")
    bad = Changes(
        add_articles=[extra],
        add_chunks=[Chunk("x", 0, 10, "A new arti", id=10_000)],
        add_vectors=_vectors(2),  # one chunk, two vectors: the writer must fail before committing
    )
    with pytest.raises(AssertionError):
        write_generation(index_dir, previous, bad, _fields())
    assert (index_dir / MANIFEST).read_bytes() == before
    assert not [p for p in index_dir.iterdir() if p.name.startswith(".tmp-")]
    assert len(load_index(index_dir, MODEL).chunks) == len(previous.chunks)


def test_update_replaces_and_removes(index_dir: Path) -> None:
    previous = load_index(index_dir, MODEL)
    gone = _articles()[0].id
    manifest = write_generation(index_dir, previous, Changes(remove_articles=[gone]), _fields())
    index = load_index(index_dir, MODEL)
    assert gone not in index.articles
    assert all(c.article_id != gone for c in index.chunks.values())
    assert index.faiss_index.ntotal == len(index.chunks) == manifest["chunks"]
    # Only the current and the previous generation are kept on disk.
    assert len([p for p in index_dir.iterdir() if p.name.startswith("gen-")]) == 2
