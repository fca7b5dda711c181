"""Sentence vectors stored with the index: written with each generation, carried over for unchanged articles,
dropped with removed ones, checksummed, and refused when they do not fit the index (random vectors, no model)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rag.chunking import chunk_article, chunk_sentences
from rag.sentence_vectors import KEYS_FILE, VECTORS_FILE, SentenceVectors
from rag.store import Changes, IndexCorrupt, load_index, write_generation
from rag.types import Article, Chunk
from tests.unit.test_manifest import DIM, _articles, _fields, _vectors


def _chunks(articles: list[Article], first_id: int = 0) -> list[Chunk]:
    out = []
    for art in articles:
        for c in chunk_article(art):
            out.append(Chunk(c.article_id, c.start, c.end, c.text, id=first_id + len(out)))
    return out


def _sentences(chunks: list[Chunk], seed: int) -> SentenceVectors:
    parts = []
    for c in chunks:
        spans = chunk_sentences(c)
        parts.append(SentenceVectors.of(c.id, spans, _vectors(len(spans), seed + c.id)))
    return SentenceVectors.concat(parts, DIM)


def _build(path: Path) -> tuple[list[Article], list[Chunk], SentenceVectors]:
    arts = _articles()
    chunks = _chunks(arts)
    sv = _sentences(chunks, 0)
    changes = Changes(add_articles=arts, add_chunks=chunks, add_vectors=_vectors(len(chunks)), add_sentences=sv)
    write_generation(path, None, changes, _fields())
    return arts, chunks, sv


def test_every_quotable_sentence_is_stored_and_found(tmp_path: Path) -> None:
    _, chunks, sv = _build(tmp_path / "i")
    index = load_index(tmp_path / "i", "test/model")
    assert index.sentences is not None and len(index.sentences) == len(sv) > len(chunks)
    for c in chunks:
        for s, _ in chunk_sentences(c):
            v = index.sentences.lookup(c.id, s)
            assert v is not None and v.dtype == np.float32 and abs(float(np.linalg.norm(v)) - 1) < 1e-2
    assert index.sentences.lookup(chunks[0].id, chunks[0].start + 1) is None  # not a sentence start
    assert index.sentences.lookup(10_000, 0) is None


def test_an_update_keeps_unchanged_sentences_and_drops_removed_ones(tmp_path: Path) -> None:
    arts, chunks, _ = _build(tmp_path / "i")
    before = load_index(tmp_path / "i", "test/model")
    assert before.sentences is not None
    gone = arts[0].id
    body = "The new version of the report adds a paragraph. " * 30
    changed = Article(gone, arts[0].outlet, arts[0].title, arts[0].published, arts[0].url, body)
    new_chunks = _chunks([changed], first_id=max(before.chunks) + 1)
    changes = Changes(
        remove_articles=[gone],
        add_articles=[changed],
        add_chunks=new_chunks,
        add_vectors=_vectors(len(new_chunks), 7),
        add_sentences=_sentences(new_chunks, 99),
    )
    write_generation(tmp_path / "i", before, changes, _fields())
    after = load_index(tmp_path / "i", "test/model")
    assert after.sentences is not None
    for c in chunks:
        for s, _ in chunk_sentences(c):
            if c.article_id == gone:
                assert after.sentences.lookup(c.id, s) is None
            else:
                np.testing.assert_array_equal(after.sentences.lookup(c.id, s), before.sentences.lookup(c.id, s))
    new = [(c.id, s) for c in new_chunks for s, _ in chunk_sentences(c)]
    assert new and all(after.sentences.lookup(cid, s) is not None for cid, s in new)
    assert set(after.sentences.keys[:, 0].tolist()) <= set(after.chunks)


def test_an_index_without_sentence_vectors_loads_without_them(tmp_path: Path) -> None:
    arts = _articles()
    chunks = _chunks(arts)
    write_generation(tmp_path / "i", None, Changes([], arts, chunks, _vectors(len(chunks))), _fields())
    index = load_index(tmp_path / "i", "test/model")
    assert index.sentences is None
    assert not (tmp_path / "i" / str(index.manifest["generation"]) / KEYS_FILE).exists()


@pytest.mark.parametrize("damage", ["truncate", "wrong_shape", "unknown_chunk"])
def test_damaged_sentence_files_are_refused(tmp_path: Path, damage: str) -> None:
    _, _, sv = _build(tmp_path / "i")
    gen = tmp_path / "i" / str(load_index(tmp_path / "i").manifest["generation"])
    if damage == "truncate":
        data = (gen / VECTORS_FILE).read_bytes()
        (gen / VECTORS_FILE).write_bytes(data[: len(data) // 2])
        with pytest.raises(IndexCorrupt, match="checksum"):
            load_index(tmp_path / "i")
        return
    if damage == "wrong_shape":
        np.save(gen / VECTORS_FILE, sv.vectors[:, :3], allow_pickle=False)
    else:
        keys = sv.keys.copy()
        keys[0, 0] = 10_000
        np.save(gen / KEYS_FILE, keys, allow_pickle=False)
    # With checksums off the files are still checked against the index before they are used.
    with pytest.raises(IndexCorrupt, match="rag index --rebuild"):
        load_index(tmp_path / "i", verify=False)
