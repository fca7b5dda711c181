"""Fixtures for the Streamlit app tests: an `AppTest` of `app.py` pointed at a private copy of the seed index."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from rag.config import Settings, get_settings

APP = Path(__file__).resolve().parents[2] / "app.py"
#: Seconds one script run may take: the first run of a session loads the embedding model.
RUN_TIMEOUT = 180


@pytest.fixture
def app_for(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Settings], AppTest]]:
    """Build an `AppTest` of app.py whose settings (read from RAG_* variables) are the given ones."""

    def make(settings: Settings) -> AppTest:
        monkeypatch.setenv("RAG_INDEX_DIR", str(settings.index_dir))
        monkeypatch.setenv("RAG_CORPUS_DIR", str(settings.corpus_dir))
        monkeypatch.setenv("RAG_LLM", settings.llm)  # the answerer (tests/app/test_app_llm.py)
        if settings.llm_base_url:
            monkeypatch.setenv("RAG_LLM_BASE_URL", settings.llm_base_url)
        else:
            monkeypatch.delenv("RAG_LLM_BASE_URL", raising=False)
        get_settings.cache_clear()
        return AppTest.from_file(str(APP), default_timeout=RUN_TIMEOUT)

    yield make
    get_settings.cache_clear()
    st.cache_resource.clear()  # each test's pipeline holds its own index; the model stays loaded (rag.embedding)
    st.cache_data.clear()


@pytest.fixture
def app(app_for: Callable[[Settings], AppTest], tmp_index: Settings) -> AppTest:
    """The app over a writable copy of the seed corpus and index, after its first run."""
    at = app_for(tmp_index).run()
    assert not at.exception, at.exception
    return at
