"""rag.ui.uploads and rag.ui.chat: safe names, no silent overwrites, pasted articles, history, examples."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from rag.ingest import read_corpus
from rag.types import Answer, Article, Citation
from rag.ui import chat, uploads

MB = 1024 * 1024


def article_md(title: str, url: str = "", outlet: str = "Gazette", body: str = "Some article text here.") -> bytes:
    link = f"url: {url}\n" if url else ""
    return f"---\noutlet: {outlet}\ntitle: {title}\n{link}---\n\n{body}\n".encode()


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("../../etc/passwd.md", "passwd.md"),
        ("..\\..\\windows\\evil.txt", "evil.txt"),
        ("/abs/path/story.MD", "story.md"),
        (".hidden.md", "hidden.md"),
        ("..md", "upload.md"),
        ("naïve café report.txt", "naive-cafe-report.txt"),
        ("a<b>|c?.json", "a-b-c.json"),
        ("README.md", "upload-README.md"),
        ("sources.json", "upload-sources.json"),
        ("noext", "noext"),
        ("x" * 300 + ".txt", "x" * 80 + ".txt"),
    ],
)
def test_safe_filename(name: str, safe: str) -> None:
    assert uploads.safe_filename(name) == safe


def test_saved_file_stays_inside_the_uploads_folder(tmp_path: Path) -> None:
    out = uploads.save_upload(tmp_path, "../../../outside.md", article_md("T"), MB)
    assert out.status == "saved" and out.saved_as == "uploads/outside.md"
    assert (tmp_path / "uploads" / "outside.md").is_file()
    assert not (tmp_path.parent / "outside.md").exists()


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("a.pdf", b"%PDF", "not accepted"),
        ("a.exe", b"MZ", "not accepted"),
        ("a.txt", b" \n ", "empty file"),
        ("a.txt", b"x" * (MB + 1), "too large"),
        ("a.json", b'{"body": ', "invalid JSON"),
        ("a.txt", b"\x00\x01binary", "binary"),
        ("a.md", b"---\ntitle: [unclosed\n---\nbody", "malformed front matter"),
    ],
)
def test_bad_uploads_are_rejected_with_a_reason_and_not_saved(tmp_path: Path, name: str, data: bytes, reason: str):
    out = uploads.save_upload(tmp_path, name, data, MB)
    assert out.status == "rejected" and reason in out.message
    assert not any((tmp_path / "uploads").glob("*")) if (tmp_path / "uploads").exists() else True


def test_a_different_article_never_overwrites_a_taken_name(tmp_path: Path) -> None:
    first = uploads.save_upload(tmp_path, "story.md", article_md("One", "https://x.example/1"), MB)
    second = uploads.save_upload(tmp_path, "story.md", article_md("Two", "https://x.example/2"), MB)
    third = uploads.save_upload(tmp_path, "story.md", article_md("Three"), MB)
    assert (first.saved_as, second.saved_as, third.saved_as) == (
        "uploads/story.md",
        "uploads/story-2.md",
        "uploads/story-3.md",
    )
    assert b"title: One" in (tmp_path / "uploads" / "story.md").read_bytes()


def test_identical_upload_is_not_written_again(tmp_path: Path) -> None:
    data = article_md("One")
    uploads.save_upload(tmp_path, "story.md", data, MB)
    again = uploads.save_upload(tmp_path, "story.md", data, MB)
    assert again.status == "identical" and again.saved_as == "uploads/story.md"
    assert [p.name for p in (tmp_path / "uploads").iterdir()] == ["story.md"]


def test_new_version_of_the_same_article_replaces_it(tmp_path: Path) -> None:
    uploads.save_upload(tmp_path, "story.md", article_md("One", "https://x.example/1", body="Old text."), MB)
    new = uploads.save_upload(tmp_path, "story.md", article_md("One!", "https://x.example/1", body="New text."), MB)
    assert new.status == "replaced" and new.saved_as == "uploads/story.md"
    assert b"New text." in (tmp_path / "uploads" / "story.md").read_bytes()
    # Without a URL, "same article" means same outlet and title.
    uploads.save_upload(tmp_path, "b.md", article_md("Same title", body="Old."), MB)
    assert uploads.save_upload(tmp_path, "b.md", article_md("Same title", body="New."), MB).status == "replaced"
    other = uploads.save_upload(tmp_path, "b.md", article_md("Other title", body="New."), MB)
    assert other.saved_as == "uploads/b-2.md"


def test_no_temporary_files_are_left_behind(tmp_path: Path) -> None:
    uploads.save_upload(tmp_path, "s.md", article_md("One"), MB)
    uploads.save_upload(tmp_path, "s.md", article_md("One", body="Changed."), MB)
    assert sorted(p.name for p in (tmp_path / "uploads").iterdir()) == ["s.md"]


TEXT = "Body.\n---\nmore"


def test_pasted_article_round_trips_through_the_reader(tmp_path: Path) -> None:
    name, data, error = uploads.pasted_file(
        "The Outlet: Weekly", "A title: with colon\n and # hash", date(2026, 4, 12), "https://o.example/a", TEXT
    )
    assert not error and name == "A-title-with-colon-and-hash.txt"
    uploads.save_upload(tmp_path, name, data, MB)
    (art,) = read_corpus(tmp_path).articles
    assert (art.outlet, art.title, art.published, art.url) == (
        "The Outlet: Weekly",
        "A title: with colon and # hash",
        "2026-04-12",
        "https://o.example/a",
    )
    assert art.body == "Body.\n---\nmore"


def test_pasted_article_needs_outlet_title_and_text() -> None:
    assert uploads.pasted_file(" ", "", None, "", "text")[2] == "please fill in: outlet, title"


def test_missing_corpus_folder_is_reported(make_settings) -> None:
    report = uploads.add_articles(make_settings(), [("a.md", article_md("One"))])
    assert "does not exist" in report.error and not report.files


def _answer(question: str, search: str, outlets: list[str]) -> Answer:
    cites = [Citation(i + 1, o, "t", "", "", "id", "q", 0, 1) for i, o in enumerate(outlets)]
    return Answer(question=question, text="a", citations=cites, refused=False, search_query=search)


def test_history_turns_carry_question_search_and_cited_outlets() -> None:
    messages = [
        chat.Message("user", "Who is X?"),
        chat.Message("assistant", "a", _answer("Who is X?", "Who is X?", ["Dawn", "Dawn", "BBC"])),
        chat.Message("user", "What did he say?"),
        chat.Message("assistant", "a", _answer("What did he say?", "What did he say? X", [])),
    ]
    turns = chat.history_turns(messages)
    assert [(t.question, t.search_query, t.outlets) for t in turns] == [
        ("Who is X?", "Who is X?", ("Dawn", "BBC")),
        ("What did he say?", "What did he say? X", ()),
    ]


def test_date_range() -> None:
    assert chat.date_range(None, None) == (None, None, None)
    assert chat.date_range(date(2025, 1, 1), None) == ("2025-01-01", None, None)
    s, u, error = chat.date_range(date(2025, 2, 1), date(2025, 1, 1))
    assert (s, u) == (None, None) and "after" in error


def _art(outlet: str, body: str, published: str = "2025-01-01") -> Article:
    return Article(id=f"{outlet}{published}", outlet=outlet, title="t", published=published, url="", body=body)


def test_example_questions_ask_about_people_several_outlets_quote() -> None:
    arts = [
        _art("A", "Defense Secretary Jane Roe said the plan works. Latin American leaders met in Rome."),
        _art("B", "The plan works, said Jane Roe. Kim Poe told reporters it was late. Warned Latin American states."),
        _art("C", "Kim Poe said nothing new.", "2024-05"),
    ]
    assert chat.example_questions(arts) == [
        "What did Jane Roe say?",
        "What did Kim Poe say?",
        "What did the outlets report about Latin American?",
    ]
    assert chat.example_questions(arts, ["Mine?"]) == ["Mine?"]
    assert chat.example_questions([]) == []
    assert chat.date_span(arts) == ("2024-05", "2025-01-01")
