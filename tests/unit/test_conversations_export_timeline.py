"""Stored conversations (round trip, order, delete), their Markdown/JSON export, and the timeline charts."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from rag.conversations import ConversationStore, StoredMessage, answer_from_json, answer_to_json, title_for
from rag.types import Answer, Article, Citation
from rag.ui import export, timeline


def citation(n: int, article: str, outlet: str, published: str = "2026-03-06") -> Citation:
    quote = f"Quote {n} from {article}."
    return Citation(
        n,
        outlet,
        f"Title of {article}",
        published,
        f"https://{outlet.lower()}.example/{article}",
        article,
        quote,
        10,
        10 + len(quote),
        chunk_id=n,
    )


def answer(question: str = "What did Miller say?") -> Answer:
    cites = [citation(1, "a1", "Dawn"), citation(2, "a2", "Fortune", "2026-03-09"), citation(3, "a1", "Dawn")]
    return Answer(
        question,
        "Dawn: Miller said it works. [1] [3]\nFortune: he said so again. [2]",
        cites,
        False,
        search_query=question,
        filters={"outlets": [], "since": None, "until": None},
        warnings=["a note"],
    )


def test_store_round_trip_keeps_what_the_chat_draws(tmp_path: Path) -> None:
    store = ConversationStore(tmp_path / "conversations.sqlite")
    cid = store.create("What did Miller say?")
    a = answer()
    store.append(cid, "user", a.question)
    store.append(cid, "assistant", a.text, a)
    again = ConversationStore(tmp_path / "conversations.sqlite")  # a restart: a fresh object, same file
    [info] = again.list()
    assert (info.id, info.title, info.messages) == (cid, "What did Miller say?", 2)
    user, bot = again.load(cid)
    assert (user.role, user.text, user.answer) == ("user", a.question, None)
    got = bot.answer
    assert got.to_json() == a.to_json() and got.warnings == ["a note"]
    assert [c.quote for c in got.citations] == [c.quote for c in a.citations]


def test_stored_answers_are_json_not_pickles(tmp_path: Path) -> None:
    store = ConversationStore(tmp_path / "c.sqlite")
    cid = store.create("q")
    store.append(cid, "assistant", "t", answer())
    with sqlite3.connect(tmp_path / "c.sqlite") as conn:
        (blob,) = conn.execute("SELECT answer FROM messages").fetchone()
    assert json.loads(blob)["citations"][0]["outlet"] == "Dawn"


def test_list_is_newest_first_and_delete_removes_everything(tmp_path: Path) -> None:
    store = ConversationStore(tmp_path / "c.sqlite")
    first, second = store.create("first"), store.create("second")
    store.append(second, "user", "x")
    assert [i.id for i in store.list()][0] in {first, second}
    store.delete(first)
    assert [i.id for i in store.list()] == [second]
    assert store.load(first) == []
    store.delete(second)
    assert store.list() == []
    with sqlite3.connect(tmp_path / "c.sqlite") as conn:
        assert conn.execute("SELECT COUNT(*) FROM messages").fetchone() == (0,)


def test_titles_are_the_first_question_cut_at_a_word() -> None:
    assert title_for("  What   did he say? ") == "What did he say?"
    long = title_for("word " * 40)
    assert long.endswith("…") and len(long) <= 71


def test_answer_json_round_trip_ignores_unknown_keys() -> None:
    d = answer_to_json(answer()) | {"something_new": 1}
    d["citations"][0]["extra"] = True
    assert answer_from_json(d).citations[0].n == 1


def test_markdown_export_holds_the_answer_and_its_numbered_sources() -> None:
    a = answer()
    messages = [StoredMessage("user", a.question), StoredMessage("assistant", a.text, a)]
    md = export.conversation_markdown("Miller", messages)
    assert md.startswith("# Miller\n")
    assert "## What did Miller say?" in md
    assert "Dawn: Miller said it works. \\[1\\] \\[3\\]" in md
    assert "1. **Dawn** — [Title of a1](https://dawn.example/a1) (6 Mar 2026)" in md
    assert "2. **Fortune** — [Title of a2](https://fortune.example/a2) (9 Mar 2026)" in md
    assert "> Quote 2 from a2." in md


def test_markdown_export_escapes_markup_and_marks_refusals() -> None:
    refused = Answer("q", "No article answers this.", [], True)
    c = Citation(1, "X", "<b>bold</b>", "", "javascript:alert(1)", "id", "a [link](x)", 0, 11)
    a = Answer("q", "text [1]", [c], False)
    md = export.conversation_markdown("t", [StoredMessage("assistant", "", refused), StoredMessage("assistant", "", a)])
    assert "**Not answered by the articles.** No article answers this." in md
    assert "<b>" not in md and "\\<b\\>bold\\</b\\>" in md
    assert "](javascript" not in md and "> a \\[link\\](x)" in md


def test_json_export_is_the_rag_ask_json_shape() -> None:
    a = answer()
    items = json.loads(export.conversation_json("c1", [StoredMessage("user", "q"), StoredMessage("assistant", "", a)]))
    assert items == [a.to_json("c1:1")]


def test_sources_timeline_has_one_mark_per_cited_article() -> None:
    a = answer()  # three citations, two articles
    chart = timeline.sources_chart(a.citations)
    marks = timeline.marks(chart)
    assert sorted(m["article_id"] for m in marks) == ["a1", "a2"]
    a1 = next(m for m in marks if m["article_id"] == "a1")
    assert a1["cited"] == "[1] [3]" and a1["outlet"] == "Dawn"
    spec = chart.to_dict()
    assert spec["params"][0]["name"] == timeline.SELECTION
    [points] = [layer for layer in spec["layer"] if layer["mark"]["type"] == "circle"]  # the rest are labels
    assert points["encoding"]["x"]["field"] == "date" and points["encoding"]["y"]["field"] == "outlet"
    assert spec["usermeta"]["embedOptions"]["renderer"] == "svg"  # points a browser can find and click


def test_undated_articles_are_left_off_and_counted() -> None:
    cites = [citation(1, "a1", "Dawn", ""), citation(2, "a2", "Dawn", "2026-03"), citation(3, "a3", "X", "junk")]
    rows = timeline.source_rows(cites)
    assert timeline.undated(rows) == 2
    assert [m["date"] for m in timeline.marks(timeline.sources_chart(cites))] == ["2026-03-01"]


def test_corpus_timeline_has_one_mark_per_article() -> None:
    arts = [
        Article(f"id{i}", "Dawn" if i % 2 else "Fortune", f"T{i}", f"2026-03-{i + 1:02d}", "", "body") for i in range(5)
    ]
    marks = timeline.marks(timeline.corpus_chart(arts))
    assert [m["article_id"] for m in marks] == [f"id{i}" for i in range(5)]


def test_clicked_article_reads_streamlits_selection_event() -> None:
    assert timeline.clicked_article({"selection": {"pick": [{"article_id": "a2"}]}}) == "a2"
    assert timeline.clicked_article({"selection": {"pick": {}}}) is None
    assert timeline.clicked_article({"selection": {"pick": {"article_id": ["a1"]}}}) == "a1"
    assert timeline.clicked_article(None) is None
