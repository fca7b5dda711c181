"""The onnx-int8 embedding backend: a local export of the bundled model that embeds like torch, cached, and
never mixed with torch vectors in one index. Real model, real export (once per session, in a temp cache)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from rag import onnx_backend
from rag.config import Settings
from rag.embedding import Embedder, OnnxEmbedder, resolve_model_path
from rag.indexer import update_index
from rag.pipeline import Pipeline
from rag.store import MANIFEST, IndexMismatch, read_manifest

pytestmark = pytest.mark.slow

SEEDS = Path(__file__).resolve().parents[2] / "seeds"


@pytest.fixture(scope="session")
def onnx_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("onnx-cache")


@pytest.fixture(scope="session")
def onnx_embedder(onnx_cache: Path) -> OnnxEmbedder:
    return OnnxEmbedder(Settings().model, cache_dir=onnx_cache)


def _seed_texts() -> list[str]:
    text = "\n".join(p.read_text(encoding="utf-8") for p in sorted(SEEDS.glob("*.md")))
    paragraphs = [p.strip() for p in text.split("\n\n") if len(p.strip()) > 40]
    return paragraphs[:40] + ["Who won?", "  leading and trailing spaces  ", "word " * 400]


def test_onnx_vectors_agree_with_torch(onnx_embedder: OnnxEmbedder) -> None:
    texts = _seed_texts()
    torch_vecs = Embedder(Settings().model).encode(texts)
    onnx_vecs = onnx_embedder.encode(texts)
    assert onnx_vecs.shape == torch_vecs.shape and onnx_vecs.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(onnx_vecs, axis=1), 1.0, atol=1e-5)
    cos = np.sum(onnx_vecs * torch_vecs, axis=1)
    assert cos.mean() > 0.99 and cos.min() > 0.97
    # A text's vector does not depend on the texts embedded with it (int8 activations are scaled per run):
    # an incremental update embeds a chunk exactly as the full build did.
    alone = np.vstack([onnx_embedder.encode_query(t) for t in texts[:5]])
    np.testing.assert_allclose(alone, onnx_vecs[:5], atol=1e-6)


def test_export_is_cached_and_checked(onnx_embedder: OnnxEmbedder, onnx_cache: Path) -> None:
    model_dir = Path(resolve_model_path(Settings().model))
    folder = onnx_backend.ensure_export(model_dir, onnx_cache)  # already exported by the fixture
    meta = json.loads((folder / onnx_backend.META_FILE).read_text())
    assert meta["inputs"][:2] == ["input_ids", "attention_mask"] and meta["dimension"] == 384
    assert not list(folder.glob("*.fp32.onnx"))  # the intermediate export is not kept
    assert onnx_backend._valid(folder)
    damaged = onnx_cache / "damaged"
    shutil.copytree(folder, damaged)
    with (damaged / onnx_backend.ONNX_FILE).open("r+b") as f:
        f.truncate(1000)
    assert not onnx_backend._valid(damaged)  # a truncated file is exported again, never loaded


def test_unwritable_cache_falls_back_to_the_temporary_folder(onnx_cache: Path, tmp_path: Path, monkeypatch) -> None:
    model_dir = Path(resolve_model_path(Settings().model))
    folder = onnx_backend.ensure_export(model_dir, onnx_cache)
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder", encoding="utf-8")  # the cache folder cannot be created under it
    temp = tmp_path / "tmp"
    monkeypatch.setattr(onnx_backend.tempfile, "gettempdir", lambda: str(temp))
    fallback = temp / f"rag-cache-{os.getuid()}" / "onnx" / folder.name
    shutil.copytree(folder, fallback)  # already exported there: the test checks the choice of folder only
    assert onnx_backend.ensure_export(model_dir, blocked / "cache") == fallback
    monkeypatch.setattr(onnx_backend.tempfile, "gettempdir", lambda: str(blocked))
    with pytest.raises(onnx_backend.OnnxExportError, match="RAG_CACHE_DIR"):
        onnx_backend.ensure_export(model_dir, blocked / "cache")


def test_index_records_its_backend_and_refuses_to_mix(onnx_embedder: OnnxEmbedder, onnx_cache: Path, tmp_path):
    corpus = tmp_path / "corpus"
    shutil.copytree(SEEDS, corpus)
    settings = Settings(
        index_dir=tmp_path / "index", corpus_dir=corpus, embed_backend="onnx-int8", cache_dir=onnx_cache
    )
    update_index(settings)
    assert read_manifest(settings.index_dir)["embed_backend"] == "onnx-int8"
    # Queries use the index's backend, whatever the settings' default.
    pipeline = Pipeline(settings.model_copy(update={"embed_backend": "torch"}))
    assert pipeline.retriever.embedder.backend == "onnx-int8"
    answer = pipeline.ask("According to Stephen Miller, what is the only way cartels can be defeated?")
    assert not answer.refused and "military power" in " ".join(c.quote for c in answer.citations).lower()
    # An update with the other backend would mix vectors: refused, with the way out named.
    (corpus / "extra.md").write_text("---\noutlet: AFP\ntitle: Extra\n---\n\nA new article about the harbour.\n")
    with pytest.raises(IndexMismatch, match="embed_backend"):
        update_index(settings.model_copy(update={"embed_backend": "torch"}))


def test_an_index_from_before_backends_counts_as_torch(tmp_index: Settings) -> None:
    manifest_path = tmp_index.index_dir / MANIFEST
    manifest = json.loads(manifest_path.read_text())
    manifest.pop("embed_backend", None)
    manifest_path.write_text(json.dumps(manifest))
    (tmp_index.corpus_dir / "extra.md").write_text("---\noutlet: AFP\ntitle: Extra\n---\n\nA new article body.\n")
    with pytest.raises(IndexMismatch, match="embed_backend"):
        update_index(tmp_index.model_copy(update={"embed_backend": "onnx-int8"}))
