"""Stored conversations, the index-change note and article removal, through `AppTest` and the real index."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from rag.config import Settings
from rag.conversations import ConversationStore
from rag.indexer import read_problems, update_index
from rag.pipeline import Pipeline
from rag.store import load_index
from rag.ui import corpus

from .helpers import ask, htmls

pytestmark = pytest.mark.slow

EVAL_DIR = Path(__file__).resolve().parents[3] / "shared" / "eval"
DEV = {q["id"]: q for q in map(json.loads, (EVAL_DIR / "seeds_dev.jsonl").read_text().splitlines())}
NEW_ARTICLE = """---
outlet: Harbor Gazette
title: Lantern festival draws record crowd to Port Ellery
published: 2026-04-12
---

The annual Lantern Festival in Port Ellery drew 12,400 visitors on Saturday, organisers said.
"""


def test_a_question_starts_a_stored_conversation_that_a_new_session_reopens(app_for, tmp_index: Settings) -> None:
    at = app_for(tmp_index).run()
    ask(at, DEV["s01"]["question"])
    cid = at.session_state["conversation_id"]
    assert cid and at.query_params["c"] == cid
    [info] = ConversationStore(tmp_index.conversations_path).list()
    assert info.id == cid and info.messages == 2

    reloaded = app_for(tmp_index)  # a browser reload: a new session, the id still in the URL
    reloaded.query_params["c"] = cid
    reloaded.run()
    assert not reloaded.exception
    messages = reloaded.session_state["messages"]
    assert [m.role for m in messages] == ["user", "assistant"]
    assert messages[1].answer.citations and any('class="rag-card"' in h for h in htmls(reloaded))
    assert reloaded.button(key=f"open-{cid}")  # listed in the sidebar

    ask(reloaded, "What did he say the goal was?")  # the follow-up joins the stored conversation
    assert ConversationStore(tmp_index.conversations_path).get(cid).messages == 4

    reloaded.button(key=f"delete-{cid}").click().run()
    assert reloaded.session_state["messages"] == [] and reloaded.session_state["conversation_id"] is None
    assert ConversationStore(tmp_index.conversations_path).list() == []


def test_new_chat_leaves_the_stored_one_alone(app_for, tmp_index: Settings) -> None:
    at = app_for(tmp_index).run()
    ask(at, DEV["s01"]["question"])
    at.button(key="new_chat").click().run()
    assert at.session_state["conversation_id"] is None and "c" not in at.query_params
    assert len(ConversationStore(tmp_index.conversations_path).list()) == 1


def test_an_index_moved_by_someone_else_is_announced_with_counts(app_for, tmp_index: Settings) -> None:
    at = app_for(tmp_index).run()
    (tmp_index.corpus_dir / "lantern.md").write_text(NEW_ARTICLE)
    update_index(tmp_index)  # as the watcher or a terminal `rag index` would
    at.run()
    assert not at.exception
    assert any("Index updated: 1 article added." in h for h in htmls(at))


def test_removing_an_article_moves_its_file_out_and_it_is_no_longer_cited(tmp_index: Settings) -> None:
    pipe = Pipeline(tmp_index)
    question = DEV["s01"]["question"]
    cited = pipe.ask(question).citations[0]
    index = pipe.index
    source = index.articles[cited.article_id].source
    result = corpus.remove_article(tmp_index, index, cited.article_id)
    assert result.ok, result.message
    assert not (tmp_index.corpus_dir / source).exists()
    assert Path(result.moved_to).parent == tmp_index.index_dir / corpus.REMOVED_DIR
    assert result.summary.removed == 1
    assert pipe.refresh()
    assert cited.article_id not in pipe.index.articles
    assert cited.article_id not in {c.article_id for c in pipe.ask(question).citations}


def test_removal_refuses_a_source_outside_the_corpus(tmp_index: Settings, tmp_path: Path) -> None:
    index = load_index(tmp_index.index_dir)
    victim = tmp_path / "outside.md"
    victim.write_text("keep me")
    aid, art = next(iter(index.articles.items()))
    index.articles[aid] = dataclasses.replace(art, source="../outside.md")
    result = corpus.remove_article(tmp_index, index, aid)
    assert not result.ok and "not a file inside the corpus folder" in result.message
    assert victim.read_text() == "keep me"


def test_corpus_rows_search_and_failed_files(tmp_index: Settings) -> None:
    (tmp_index.corpus_dir / "broken.json").write_text('{"body": ')
    update_index(tmp_index)
    rows = corpus.article_rows(load_index(tmp_index.index_dir))
    assert len(rows) == 5 and all(r["chunks"] >= 1 for r in rows)
    dawn = corpus.search_rows(rows, "dawn")
    assert dawn and all("dawn" in (r["outlet"] + r["title"] + r["source"]).lower() for r in dawn)
    assert [p.source for p in read_problems(tmp_index.index_dir) if p.skipped] == ["broken.json"]


def _corpus_page() -> None:
    from rag.ui.pages import corpus as corpus_page

    corpus_page.page()


def test_corpus_page_lists_articles_removes_one_and_shows_failed_files(app_for, tmp_index: Settings) -> None:
    (tmp_index.corpus_dir / "broken.json").write_text('{"body": ')
    update_index(tmp_index)
    app_for(tmp_index)  # sets the RAG_* variables the page reads
    at = AppTest.from_function(_corpus_page, default_timeout=180).run()
    assert not at.exception, at.exception
    assert len(at.dataframe[0].value) == 5
    assert "broken.json" in at.dataframe[1].value["file"].tolist()
    victim = at.selectbox(key="corpus_pick").options[0]
    first_id = corpus.article_rows(load_index(tmp_index.index_dir))[0]["id"]
    at.selectbox(key="corpus_pick").set_value(first_id).run()  # the widget's values are article ids
    at.button(key="corpus_remove").click().run()
    assert not at.exception, at.exception
    assert at.success and at.success[0].value.startswith("Removed")
    assert len(at.dataframe[0].value) == 4
    assert victim not in at.selectbox(key="corpus_pick").options


def test_change_counts_name_what_moved() -> None:
    from rag.ui.pages.shared import change_counts

    assert change_counts({"a": "1", "b": "1"}, {"a": "2", "c": "1", "d": "1"}) == (
        "2 articles added · 1 article updated · 1 article removed"
    )
    assert change_counts({"a": "1"}, {"a": "1"}) == ""
