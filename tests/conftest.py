"""Shared fixtures: the project's paths, settings pointing at temporary folders, a real seed index.

`seed_index` builds a real index of the five seed articles once per test session (real model, real files
on disk) in a temporary folder; tests that use it are integration tests and must be marked `slow`.
Tests that change an index must copy it (`tmp_index`) rather than touch the shared one.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from rag.config import Settings

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
SHARED = ROOT.parent / "shared"
EVAL_DIR = SHARED / "eval"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture
def make_settings(tmp_path: Path):
    """Settings whose index and corpus live under this test's tmp_path (override any field by keyword)."""

    def make(**overrides) -> Settings:
        fields = {"index_dir": tmp_path / "index", "corpus_dir": tmp_path / "corpus"} | overrides
        return Settings(**fields)

    return make


@pytest.fixture(scope="session")
def seed_index(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings for a real index of the seed corpus, built once per session (read-only for tests)."""
    from rag.indexer import update_index

    base = tmp_path_factory.mktemp("seed-index")
    corpus = base / "corpus"
    shutil.copytree(SEEDS, corpus)
    settings = Settings(index_dir=base / "index", corpus_dir=corpus)
    update_index(settings)
    return settings


@pytest.fixture
def tmp_index(seed_index: Settings, tmp_path: Path) -> Settings:
    """A private, writable copy of the seed corpus and index for tests that modify them."""
    corpus = tmp_path / "corpus"
    index = tmp_path / "index"
    shutil.copytree(seed_index.corpus_dir, corpus)
    shutil.copytree(seed_index.index_dir, index)
    return seed_index.model_copy(update={"index_dir": index, "corpus_dir": corpus})


@pytest.fixture(scope="session")
def seed_pipeline(seed_index: Settings):
    """A loaded pipeline over the shared seed index."""
    from rag.pipeline import Pipeline

    return Pipeline(seed_index)
