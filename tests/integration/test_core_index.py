"""Building and updating a real index of the seed articles with the real model.

Incremental updates embed only what changed: one added article embeds exactly its chunks, an edited one is
re-embedded, a deleted one disappears from the index and from search results, and an unchanged corpus
leaves every index file byte-identical.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from rag.chunking import chunk_article
from rag.config import Settings
from rag.indexer import IndexSummary, update_index
from rag.ingest import read_file
from rag.pipeline import Pipeline
from rag.store import MANIFEST, IndexData, IndexMismatch, load_index, read_manifest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
NEW_ARTICLE = ROOT / "tests" / "fixtures" / "formats" / "beeper_mini.md"
SOURCES = json.loads((ROOT.parent / "shared" / "seeds" / "sources.json").read_text(encoding="utf-8"))["articles"]
TRUTHOUT_URL = next(s["url"] for s in SOURCES if s["outlet"] == "Truthout")


def _load(settings: Settings) -> IndexData:
    return load_index(settings.index_dir, settings.model)


def _vectors_of(index: IndexData, article_id: str) -> dict[int, np.ndarray]:
    return {cid: index.faiss_index.reconstruct(cid) for cid in index.chunk_ids_for(article_id)}


def _index_files(index_dir: Path) -> dict[str, bytes]:
    """The manifest and the files of the generation it names (its bm25/ folder too), by path."""
    generation = index_dir / read_manifest(index_dir)["generation"]
    files = {MANIFEST: (index_dir / MANIFEST).read_bytes()}
    inside = [p for p in sorted(generation.rglob("*")) if p.is_file()]
    files |= {f"{generation.name}/{p.relative_to(generation)}": p.read_bytes() for p in inside}
    return files


def _assert_others_untouched(before: IndexData, after: IndexData, changed: set[str]) -> None:
    for aid in set(before.articles) - changed:
        assert after.hashes[aid] == before.hashes[aid]
        assert {c: (x.start, x.end) for c, x in after.chunks.items() if x.article_id == aid} == {
            c: (x.start, x.end) for c, x in before.chunks.items() if x.article_id == aid
        }
        old, new = _vectors_of(before, aid), _vectors_of(after, aid)
        assert old.keys() == new.keys()
        assert all(np.array_equal(old[c], new[c]) for c in old), f"vectors of {aid} changed"


def test_seed_index_is_built(seed_index: Settings) -> None:
    index = _load(seed_index)
    manifest = index.manifest
    assert manifest["model"] == seed_index.model and manifest["dimension"] == 384
    assert {"package_version", "built_at", "generation", "files"} <= manifest.keys()
    assert {(a.outlet, a.title, a.published, a.url) for a in index.articles.values()} == {
        (s["outlet"], s["title"], s["published"], s["url"]) for s in SOURCES
    }
    assert index.faiss_index.ntotal == len(index.chunks) >= 5
    for chunk in index.chunks.values():
        assert index.articles[chunk.article_id].body[chunk.start : chunk.end] == chunk.text
        assert len(chunk.text) <= seed_index.chunk_size
    # Stored vectors are unit length, so inner product is cosine similarity.
    vectors = index.faiss_index.reconstruct_batch(np.fromiter(index.chunks, dtype=np.int64))
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)


def test_adding_one_article_embeds_only_its_chunks(tmp_index: Settings) -> None:
    before = _load(tmp_index)
    shutil.copy(NEW_ARTICLE, tmp_index.corpus_dir / NEW_ARTICLE.name)
    [article] = read_file(NEW_ARTICLE, NEW_ARTICLE.name).articles

    summary = update_index(tmp_index)

    assert (summary.added, summary.updated, summary.removed, summary.unchanged) == (1, 0, 0, 5)
    assert summary.added_ids == [article.id]
    expected_chunks = len(chunk_article(article, tmp_index.chunk_size, tmp_index.chunk_overlap))
    assert summary.embedded_chunks == expected_chunks
    after = _load(tmp_index)
    assert len(after.chunk_ids_for(article.id)) == expected_chunks
    assert summary.articles == 6 and summary.chunks == len(before.chunks) + expected_chunks == len(after.chunks)
    _assert_others_untouched(before, after, changed={article.id})


def test_modifying_one_article_re_embeds_it(tmp_index: Settings) -> None:
    before = _load(tmp_index)
    path = next(p for p in sorted(tmp_index.corpus_dir.iterdir()) if TRUTHOUT_URL in p.read_text(encoding="utf-8"))
    path.write_text(
        path.read_text(encoding="utf-8").rstrip()
        + "\n\nThis article has been updated with a statement from the Pentagon issued on Friday.\n",
        encoding="utf-8",
    )

    summary = update_index(tmp_index)

    assert (summary.added, summary.updated, summary.removed, summary.unchanged) == (0, 1, 0, 4)
    assert summary.updated_ids == [TRUTHOUT_URL]
    after = _load(tmp_index)
    assert summary.embedded_chunks == len(after.chunk_ids_for(TRUTHOUT_URL)) > 0
    assert "statement from the Pentagon issued on Friday" in after.articles[TRUTHOUT_URL].body
    assert not set(after.chunk_ids_for(TRUTHOUT_URL)) & set(before.chunk_ids_for(TRUTHOUT_URL))
    _assert_others_untouched(before, after, changed={TRUTHOUT_URL})


def test_deleting_one_article_removes_it_everywhere(tmp_index: Settings) -> None:
    before = _load(tmp_index)
    gone_chunks = set(before.chunk_ids_for(TRUTHOUT_URL))
    path = next(p for p in tmp_index.corpus_dir.iterdir() if TRUTHOUT_URL in p.read_text(encoding="utf-8"))
    path.unlink()

    summary = update_index(tmp_index)

    assert (summary.added, summary.updated, summary.removed, summary.unchanged) == (0, 0, 1, 4)
    assert summary.removed_ids == [TRUTHOUT_URL] and summary.embedded_chunks == 0
    after = _load(tmp_index)
    assert TRUTHOUT_URL not in after.articles
    assert not gone_chunks & set(after.chunks)
    assert after.faiss_index.ntotal == len(after.chunks) == len(before.chunks) - len(gone_chunks)
    _assert_others_untouched(before, after, changed={TRUTHOUT_URL})
    # Its passages are no longer found, even by a question only it answered.
    pipeline = Pipeline(tmp_index)
    query = pipeline.search_query("Which newspaper first reported Trump's directive to use military force?")
    hits = pipeline.retrieve(query, k=50)
    assert hits and all(h.article.id != TRUTHOUT_URL for h in hits)
    assert "Truthout" not in {c.outlet for c in pipeline.ask("What did Truthout report about the Pentagon?").citations}


def test_unchanged_corpus_embeds_nothing_and_keeps_files_identical(tmp_index: Settings) -> None:
    before = _index_files(tmp_index.index_dir)
    summary = update_index(tmp_index)
    assert isinstance(summary, IndexSummary)
    assert (summary.added, summary.updated, summary.removed, summary.unchanged) == (0, 0, 0, 5)
    assert summary.embedded_chunks == 0
    assert _index_files(tmp_index.index_dir) == before


def test_renamed_file_is_not_a_change(tmp_index: Settings) -> None:
    """Identity is the URL and the hash leaves the path out: moving a file re-embeds nothing."""
    first = sorted(tmp_index.corpus_dir.iterdir())[0]
    (tmp_index.corpus_dir / "moved").mkdir()
    first.rename(tmp_index.corpus_dir / "moved" / "renamed.md")
    summary = update_index(tmp_index)
    assert (summary.added, summary.updated, summary.removed, summary.embedded_chunks) == (0, 0, 0, 0)


def test_index_of_another_model_is_refused_until_rebuild(tmp_index: Settings) -> None:
    manifest_path = tmp_index.index_dir / MANIFEST
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["model"] = "sentence-transformers/all-mpnet-base-v2"
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")

    with pytest.raises(IndexMismatch, match="rag index --rebuild"):
        update_index(tmp_index)
    with pytest.raises(IndexMismatch, match="rag index --rebuild"):
        Pipeline(tmp_index).ask("What did Stephen Miller say?")
    assert json.loads(manifest_path.read_text(encoding="utf-8"))["model"] == manifest["model"]  # left as it was

    summary = update_index(tmp_index, rebuild=True)
    assert (summary.added, summary.removed, summary.articles) == (5, 0, 5)
    assert summary.embedded_chunks == summary.chunks
    rebuilt = _load(tmp_index)
    assert rebuilt.manifest["model"] == tmp_index.model
    # Only the new generation is left: a rebuild does not keep the other model's files around.
    assert [p.name for p in tmp_index.index_dir.iterdir() if p.name.startswith("gen-")] == [
        rebuilt.manifest["generation"]
    ]


def test_other_chunk_settings_are_refused(tmp_index: Settings) -> None:
    with pytest.raises(IndexMismatch, match="chunk_size"):
        update_index(tmp_index.model_copy(update={"chunk_size": 500}))
