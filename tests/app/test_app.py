"""The Streamlit app's paths through `AppTest`: question, follow-up, refusal, filters, article view, uploads, errors.

Real model, real index (a private copy of the seed index per test), real files: these are integration tests.
"""

from __future__ import annotations

import html
import json
from datetime import date
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from rag.config import Settings
from rag.ui import render, uploads

from .helpers import ask, htmls

EVAL_DIR = Path(__file__).resolve().parents[3] / "shared" / "eval"

pytestmark = pytest.mark.slow

DEV = {q["id"]: q for q in map(json.loads, (EVAL_DIR / "seeds_dev.jsonl").read_text().splitlines())}
UPLOAD_BUTTON = "FormSubmitter:upload-Add and index"
PASTE_BUTTON = "FormSubmitter:paste-Add and index"

# An article no seed mentions, so only it can answer NEW_QUESTION.
NEW_ARTICLE = b"""---
outlet: Harbor Gazette
title: Lantern festival draws record crowd to Port Ellery
published: 2026-04-12
url: https://harbor-gazette.example/lantern-festival
---

The annual Lantern Festival in Port Ellery drew 12,400 visitors on Saturday, organisers said.

Festival director Mara Quint said the lighthouse parade was the longest in the festival's 40-year history.
"""
NEW_QUESTION = "How many visitors did the Lantern Festival in Port Ellery draw?"

# Markup and Markdown inside an article: it must show as the characters it is, never as markup.
HOSTILE_ARTICLE = b"""---
outlet: Quarry Ledger
title: Zinc smelter <b>expansion</b> approved
published: 2026-05-02
---

The council of Brackenford approved the zinc smelter expansion <script>window.__xss=1</script> on Tuesday.

Mayor Odile Ferrant said the zinc smelter vote <img src=x onerror="window.__xss=2"> ended a decade of debate.

Residents can read the zinc smelter ruling [here](javascript:alert(1)) or <a href="https://evil.example">here</a>.
"""
HOSTILE_QUESTION = "What did the council of Brackenford approve about the zinc smelter?"


def cards(at: AppTest) -> list[str]:
    return [v for v in htmls(at) if 'class="rag-card"' in v]


def last_answer(at: AppTest):
    return at.session_state["messages"][-1].answer


def view_buttons(at: AppTest) -> list[str]:
    return [b.key for b in at.button if b.key and b.key.startswith("view-")]


def upload(at: AppTest, files: list[tuple[str, bytes]]) -> AppTest:
    at.file_uploader(key="upload_files").set_value([(name, data, "text/plain") for name, data in files])
    at.button(key=UPLOAD_BUTTON).click().run()
    assert not at.exception, at.exception
    return at


def report_text(at: AppTest) -> str:
    return "\n".join(v for v in htmls(at) if "rag-report" in v)


def test_empty_screen_offers_examples_and_shows_the_index_status(app: AppTest) -> None:
    examples = [b for b in app.button if b.key and b.key.startswith("example-")]
    assert examples, "the empty screen offers example questions"
    status = next(v for v in htmls(app) if "rag-status" in v)
    assert "<td>Articles</td><td><b>5</b>" in status and "Last build" in status
    assert not app.get("help"), "no Python object is dumped on the page (Streamlit magic)"
    assert sorted(app.multiselect(key="f_outlets").options) == [
        "Al Jazeera",
        "Dawn",
        "Evrim Ağacı",
        "TC Sentinel",
        "Truthout",
    ]
    examples[0].click().run()  # an example is asked like a typed question
    assert not app.exception
    assert render.md_escape(app.session_state["messages"][0].text) == examples[0].label
    assert last_answer(app) is not None


def test_question_gets_quoted_answer_with_cards_copy_and_search_line(app: AppTest) -> None:
    q = DEV["s01"]
    ask(app, q["question"])
    answer = last_answer(app)
    assert not answer.refused
    answer_html = next(v for v in htmls(app) if 'class="rag-answer"' in v)
    assert '<span class="rag-cite">[1]</span>' in answer_html
    assert all(f.lower() in answer_html.lower() for f in q["expect_facts"])
    card_list = cards(app)
    assert len(card_list) == len(answer.citations)
    assert any(f'<span class="rag-outlet">{o}</span>' in c for c in card_list for o in q["expect_outlets"])
    first = answer.citations[0]
    assert f'href="{first.url}"' in card_list[0] and first.title in card_list[0]
    search = [v for v in htmls(app) if 'class="rag-search"' in v]
    assert search and "Searched for:" in search[0] and answer.search_query in search[0]
    copy = app.code[0].value
    assert copy.startswith(answer.text) and "Sources:" in copy and first.url in copy
    assert len(view_buttons(app)) == len(answer.citations)
    assert app.session_state["messages"][0].text == q["question"]


def test_several_outlets_are_grouped_side_by_side(app: AppTest) -> None:
    ask(app, DEV["s01"]["question"])
    outlets = list(dict.fromkeys(c.outlet for c in last_answer(app).citations))
    heads = [v for v in htmls(app) if 'class="rag-outlet-head"' in v]
    # One heading per outlet, in the answer's order, when several answer; none when only one does.
    assert len(heads) == (len(outlets) if len(outlets) > 1 else 0)
    assert all(o in h for o, h in zip(outlets, heads, strict=False))


def test_view_in_article_highlights_the_quoted_span(app: AppTest) -> None:
    ask(app, DEV["s01"]["question"])
    cited = last_answer(app).citations[0]
    app.button(key=view_buttons(app)[0]).click().run()
    assert not app.exception
    article = next(v for v in htmls(app) if 'class="rag-article"' in v)
    assert f'<mark class="rag-hl" id="rag-hl">{html.escape(cited.quote)}</mark>' in article
    assert cited.title in article


def test_follow_up_passes_the_conversation(app: AppTest) -> None:
    ask(app, "Who is Ryan Berg?")
    ask(app, "What did he say the goal of the gathering was?")
    messages = app.session_state["messages"]
    assert [m.role for m in messages] == ["user", "assistant", "user", "assistant"]
    follow = messages[-1].answer
    assert "berg" in follow.search_query.lower(), "the follow-up was searched with the earlier turn's subject"
    assert any(follow.search_query in v for v in htmls(app) if "rag-search" in v)
    app.button(key="new_chat").click().run()
    assert app.session_state["messages"] == []
    assert [b for b in app.button if b.key and b.key.startswith("example-")]


def test_refusal_looks_like_a_refusal_with_no_sources(app: AppTest) -> None:
    ask(app, DEV["u01"]["question"])
    assert last_answer(app).refused
    assert any("rag-refusal" in v and "Not answered by the articles" in v for v in htmls(app))
    assert not cards(app) and not view_buttons(app) and not app.code


def test_outlet_filter_limits_the_sources(app: AppTest) -> None:
    app.multiselect(key="f_outlets").set_value(["Dawn"]).run()
    ask(app, DEV["s01"]["question"])
    answer = last_answer(app)
    assert answer.citations and {c.outlet for c in answer.citations} == {"Dawn"}
    assert any("outlets: Dawn" in v for v in htmls(app) if "rag-search" in v)


def test_date_filter_before_every_article_refuses_and_says_filters_are_on(app: AppTest) -> None:
    app.date_input(key="f_until").set_value(date(2000, 1, 1)).run()
    ask(app, DEV["s01"]["question"])
    assert last_answer(app).refused
    assert any("Filters are on" in v for v in htmls(app) if "rag-refusal" in v)


def test_date_range_the_wrong_way_round_is_reported(app: AppTest) -> None:
    app.date_input(key="f_since").set_value(date(2026, 5, 1))
    app.date_input(key="f_until").set_value(date(2026, 1, 1)).run()
    assert any("after" in w.value for w in app.sidebar.warning)


def test_upload_indexes_good_files_reports_bad_ones_and_answers_from_them(app: AppTest, tmp_index: Settings) -> None:
    ask(app, NEW_QUESTION)
    assert last_answer(app).refused, "nothing in the seeds answers it before the upload"
    upload(
        app,
        [
            ("../../lantern festival.md", NEW_ARTICLE),
            ("broken.json", b'{"title": "x", "body": '),
            ("empty.txt", b"   \n"),
            ("binary.txt", b"\x00\x01\x02 not text"),
            ("program.exe", b"MZ not an article"),
            ("huge.txt", b"word " * (2 * 1024 * 1024 + 1)),  # just over the default 10 MB limit
        ],
    )
    report = report_text(app)
    assert "Added: 1 article(s)" in report and "Lantern festival draws record crowd" in report
    assert "broken.json: invalid JSON" in report
    assert "empty.txt: empty file" in report
    assert "binary.txt: binary file" in report
    assert "program.exe: file type &#x27;.exe&#x27; is not accepted" in report
    assert "huge.txt: too large" in report
    saved = tmp_index.corpus_dir / "uploads" / "lantern-festival.md"
    assert saved.read_bytes() == NEW_ARTICLE
    assert sorted(p.name for p in (tmp_index.corpus_dir / "uploads").iterdir()) == ["lantern-festival.md"]
    status = next(v for v in htmls(app) if "rag-status" in v)
    assert "<td>Articles</td><td><b>6</b>" in status
    assert "Harbor Gazette" in app.multiselect(key="f_outlets").options

    ask(app, NEW_QUESTION)  # answered from the new index, same process, no restart
    answer = last_answer(app)
    assert not answer.refused and "12,400" in answer.text
    assert {c.outlet for c in answer.citations} == {"Harbor Gazette"}

    upload(app, [("lantern festival.md", NEW_ARTICLE)])  # the same file again: nothing new
    assert "identical to uploads/lantern-festival.md" in report_text(app)
    assert "Added: 1" not in report_text(app)


def test_a_different_article_with_a_taken_name_gets_a_suffix(app: AppTest, tmp_index: Settings) -> None:
    upload(app, [("news.md", NEW_ARTICLE)])
    other = HOSTILE_ARTICLE
    upload(app, [("news.md", other)])
    folder = tmp_index.corpus_dir / "uploads"
    assert (folder / "news.md").read_bytes() == NEW_ARTICLE, "the first article was not overwritten"
    assert (folder / "news-2.md").read_bytes() == other
    assert "Added: 1 article(s)" in report_text(app)


def test_pasted_article_is_added_and_answers(app: AppTest, tmp_index: Settings) -> None:
    app.text_input(key="paste_outlet").set_value("Harbor Gazette")
    app.text_input(key="paste_title").set_value("Lantern festival draws record crowd")
    app.date_input(key="paste_date").set_value(date(2026, 4, 12))
    body = NEW_ARTICLE.decode().split("---", 2)[2].strip()
    app.text_area(key="paste_text").set_value(body)
    app.button(key=PASTE_BUTTON).click().run()
    assert not app.exception
    assert "Added: 1 article(s)" in report_text(app)
    ask(app, NEW_QUESTION)
    answer = last_answer(app)
    assert not answer.refused and answer.citations[0].outlet == "Harbor Gazette"
    assert answer.citations[0].published == "2026-04-12"


def test_paste_without_text_asks_for_it(app: AppTest) -> None:
    app.text_input(key="paste_outlet").set_value("Harbor Gazette")
    app.button(key=PASTE_BUTTON).click().run()
    assert any("title" in w.value and "article text" in w.value for w in app.sidebar.warning)


def test_markup_in_an_article_is_shown_as_text(app: AppTest) -> None:
    upload(app, [("smelter.md", HOSTILE_ARTICLE)])
    assert "Added: 1 article(s)" in report_text(app)
    ask(app, HOSTILE_QUESTION)
    answer = last_answer(app)
    assert not answer.refused
    shown = [v for v in htmls(app) if "rag-card" in v or "rag-answer" in v]
    assert any("&lt;script&gt;window.__xss=1&lt;/script&gt;" in v for v in shown)
    assert "&lt;b&gt;expansion&lt;/b&gt;" in "".join(shown)
    for v in shown:
        assert "<script" not in v and "<img" not in v and "<b>expansion" not in v
    app.button(key=view_buttons(app)[0]).click().run()
    article = next(v for v in htmls(app) if 'class="rag-article"' in v)
    assert "&lt;img src=x onerror=&quot;window.__xss=2&quot;&gt;" in article
    assert "<img" not in article and "<script" not in article and 'href="https://evil.example"' not in article


def test_no_index_tells_the_user_what_to_do(app_for, make_settings, tmp_path: Path) -> None:
    settings = make_settings()
    settings.corpus_dir.mkdir()
    at = app_for(settings).run()
    assert not at.exception
    message = " ".join(e.value for e in at.error)
    assert "no index" in message and "make index" in message and "Add articles" in message
    assert at.chat_input[0].disabled


def test_no_index_then_upload_builds_one(app_for, make_settings) -> None:
    settings = make_settings()
    settings.corpus_dir.mkdir()
    at = app_for(settings).run()
    upload(at, [("festival.md", NEW_ARTICLE)])
    assert not at.error
    ask(at, NEW_QUESTION)
    assert not last_answer(at).refused


def test_corrupt_index_is_reported_not_a_stack_trace(app_for, tmp_index: Settings) -> None:
    (tmp_index.index_dir / "manifest.json").write_text("{not json")
    at = app_for(tmp_index).run()
    assert not at.exception
    assert any("rag index --rebuild" in e.value.replace("\\", "") for e in at.error)


def test_wrong_corpus_folder_refuses_to_index_uploads(app_for, tmp_index: Settings, tmp_path: Path) -> None:
    other = tmp_path / "other-corpus"
    other.mkdir()
    at = app_for(tmp_index.model_copy(update={"corpus_dir": other})).run()
    upload(at, [("festival.md", NEW_ARTICLE)])
    assert any("RAG_CORPUS_DIR" in e.value.replace("\\", "") for e in at.sidebar.error)
    assert not (other / "uploads").exists()


def test_add_articles_reports_added_updated_and_skipped_with_progress(tmp_index: Settings) -> None:
    calls: list[tuple[str, int, int]] = []
    first = uploads.add_articles(tmp_index, [("f.md", NEW_ARTICLE)], progress=lambda *a: calls.append(a))
    assert [(a.status, a.outlet) for a in first.articles] == [("added", "Harbor Gazette")]
    assert calls and calls[-1][1] == calls[-1][2] == first.summary.embedded_chunks

    changed = NEW_ARTICLE.replace(b"12,400", b"12,500")  # same URL: a new version of the same article
    second = uploads.add_articles(tmp_index, [("f.md", changed)])
    assert second.files[0].status == "replaced"
    assert [a.status for a in second.articles] == ["updated"]
    assert second.summary.embedded_chunks > 0 and second.summary.added == 0

    seed = sorted(tmp_index.corpus_dir.glob("*.md"))[0]
    third = uploads.add_articles(tmp_index, [("copy.md", seed.read_bytes())])  # same URL as a seed article
    (outcome,) = third.articles
    assert outcome.status == "skipped" and f"same article as {seed.name}" in outcome.reason
    assert third.summary.embedded_chunks == 0


OTHER_OUTLET_ARTICLE = b"""---
outlet: Coastal Herald
title: Crowds pack Port Ellery for lantern parade
published: 2026-04-13
url: https://coastal-herald.example/lantern-parade
---

The Lantern Festival in Port Ellery drew about 15,000 visitors on Saturday, according to police estimates.

Traffic on the coast road was held up for two hours after the parade.
"""


def test_outlets_reporting_different_figures_are_compared_side_by_side(app: AppTest) -> None:
    upload(app, [("gazette.md", NEW_ARTICLE), ("herald.md", OTHER_OUTLET_ARTICLE)])
    assert "Added: 2 article(s)" in report_text(app)
    ask(app, NEW_QUESTION)
    outlets = {c.outlet for c in last_answer(app).citations}
    assert outlets == {"Harbor Gazette", "Coastal Herald"}
    table = next(v for v in htmls(app) if "rag-figures" in v)
    assert "<th>Harbor Gazette</th>" in table and "<th>Coastal Herald</th>" in table
    assert '<span class="rag-fig">12,400</span>' in table and '<span class="rag-fig">15,000</span>' in table
