"""The extractive answer's evidence selection with the real model and a real index of hand-written articles:
the sentence after "X was blunt." that holds what X said is quoted with it; outlets on the same story that do
not answer are not cited; a question naming three outlets cites all three. Also: the index as a LangChain
retriever."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from rag.config import Settings
from rag.indexer import update_index
from rag.pipeline import Pipeline

pytestmark = pytest.mark.slow

CORPUS = Path(__file__).resolve().parents[1] / "fixtures" / "answers"


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Pipeline:
    base = tmp_path_factory.mktemp("answers")
    shutil.copytree(CORPUS, base / "corpus")
    settings = Settings(index_dir=base / "index", corpus_dir=base / "corpus", answer_selection="fitted")
    update_index(settings)
    return Pipeline(settings)


def _exact(pipeline: Pipeline, answer) -> None:
    given = {h.chunk.id for h in answer.hits}
    for c in answer.citations:
        assert pipeline.index.articles[c.article_id].body[c.start : c.end] == c.quote
        assert c.chunk_id in given and f"[{c.n}]" in answer.text


def test_the_sentence_that_completes_a_quote_is_quoted_with_it(pipeline: Pipeline) -> None:
    answer = pipeline.ask("What did Mayor Odile Ferrant say about the Kelvin bridge closure?")
    assert not answer.refused
    _exact(pipeline, answer)
    quotes = " ".join(c.quote for c in answer.citations)
    assert "steel under the deck is badly corroded" in quotes


def test_outlets_on_the_story_that_do_not_answer_are_not_cited(pipeline: Pipeline) -> None:
    answer = pipeline.ask("What did Mayor Odile Ferrant say about the Kelvin bridge closure?")
    assert {h.article.outlet for h in answer.hits} >= {"Harbor Gazette", "Quarry Ledger", "Evening Courier"}
    assert {c.outlet for c in answer.citations} == {"Harbor Gazette"}


def test_a_question_naming_three_outlets_cites_all_three(pipeline: Pipeline) -> None:
    answer = pipeline.ask(
        "What did the Harbor Gazette, the Quarry Ledger and the Evening Courier report about the Kelvin bridge?"
    )
    assert not answer.refused
    _exact(pipeline, answer)
    assert {c.outlet for c in answer.citations} == {"Harbor Gazette", "Quarry Ledger", "Evening Courier"}
    assert len(answer.text) <= 1000


def test_outlets_reporting_different_figures_are_both_quoted(pipeline: Pipeline) -> None:
    answer = pipeline.ask("How many visitors did the Lantern Festival in Port Ellery draw?")
    quotes = " ".join(c.quote for c in answer.citations)
    assert "12,400" in quotes and "15,000" in quotes
    assert "Northfield Almanac" not in {c.outlet for c in answer.citations}


def test_the_index_is_a_langchain_retriever(pipeline: Pipeline) -> None:
    from langchain_core.retrievers import BaseRetriever

    from rag.langchain import NewsRetriever

    retriever = NewsRetriever(pipeline=pipeline, k=3, outlets=["Quarry Ledger"])
    assert isinstance(retriever, BaseRetriever)
    docs = retriever.invoke("What will the Kelvin bridge repairs cost?")
    assert 1 <= len(docs) <= 3
    for d in docs:
        m = d.metadata
        assert m["outlet"] == "Quarry Ledger" and m["url"].startswith("https://quarry-ledger.example/")
        assert pipeline.index.articles[m["article_id"]].body[m["start"] : m["end"]] == d.page_content
        assert {"title", "published", "chunk_id", "score"} <= set(m)
    assert "4.2 million" in docs[0].page_content
