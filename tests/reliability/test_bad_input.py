"""Bad input through the real `rag index` CLI: each bad file is named with a reason, everything else is indexed.

One corpus folder holds the five seed articles plus one file of each kind of trouble; a single real
`rag index --json` run over it must skip exactly the bad files (each named in `skipped` and on stderr),
warn about the article without an outlet, index the good lines of a half-broken `.jsonl`, and index a
duplicate article once. The size limit is also checked to refuse a 50 MB file before reading it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from rag.ingest import read_corpus
from rag.ingest.corpus import read_file
from rag.types import UNKNOWN_OUTLET

from .helpers import ROOT, rag_env, run_rag

SEEDS = ROOT / "seeds"
MB = 1024 * 1024

NO_OUTLET = """Harbour council approves new ferry timetable

The harbour council voted on Tuesday to add two evening ferry crossings to the winter timetable.
Councillors said demand had risen since the bridge closed for repairs in the spring.
The new crossings start next month and will run until the bridge reopens.
"""

FRONT_MATTER_BROKEN = """---
title: "Unclosed quote
outlet: [Daily Example
published: 2024-02-30
---

The body of an article whose front matter is not valid YAML.
"""


def _jsonl_line(n: int) -> str:
    return json.dumps(
        {
            "url": f"https://example.org/news/{n}",
            "outlet": "Example Gazette",
            "title": f"Library extends opening hours, part {n}",
            "published": f"2024-03-0{n}",
            "body": f"The city library will open until nine in the evening on weekdays, part {n} of the series. "
            "The change follows a survey in which most readers asked for later hours.",
        }
    )


def _write_bad_corpus(corpus: Path) -> dict[str, str]:
    """Seeds plus one file per kind of bad input; returns {file name: what must be said about it}."""
    shutil.copytree(SEEDS, corpus)
    (corpus / "empty.txt").write_bytes(b"")
    (corpus / "blank.md").write_text("   \n\n  \n", encoding="utf-8")
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00" + bytes(range(256)) * 8
    (corpus / "photo.txt").write_bytes(png)
    (corpus / "latin1.txt").write_bytes("Le café de la gare a fermé ses portes après trente ans.".encode("latin-1"))
    with (corpus / "huge.txt").open("wb") as f:  # 50 MB of real text, not a sparse file
        line = b"A very long article that nobody should index in one piece. " * 16 + b"\n"
        for _ in range(50 * MB // len(line) + 1):
            f.write(line)
    (corpus / "broken_front_matter.md").write_text(FRONT_MATTER_BROKEN, encoding="utf-8")
    (corpus / "manual.pdf").write_bytes(b"%PDF-1.4\n%binary\n")
    # The same seed article again under another name: indexed once.
    first = sorted(SEEDS.glob("*.md"))[0]
    shutil.copyfile(first, corpus / "copy_of_first_seed.md")
    (corpus / "no_outlet.txt").write_text(NO_OUTLET, encoding="utf-8")
    (corpus / "broken.json").write_text('{"title": "half a record", "body": "The cou', encoding="utf-8")
    (corpus / "menu.html").write_text("<html><body><nav><a href='/'>Home</a></nav></body></html>", encoding="utf-8")
    (corpus / "only_front_matter.md").write_text("---\noutlet: Example\ntitle: Nothing here\n---\n", encoding="utf-8")
    lines = [
        _jsonl_line(1),
        '{"url": "https://example.org/news/x", "title": "cut off',
        _jsonl_line(2),
        "not json at all",
    ]
    (corpus / "records.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return {
        "empty.txt": "empty",
        "blank.md": "empty",
        "photo.txt": "binary",
        "latin1.txt": "not UTF-8",
        "huge.txt": "too large",
        "broken_front_matter.md": "front matter",
        "manual.pdf": "unsupported file type",
        "copy_of_first_seed.md": "same article as",
        "records.jsonl#2": "invalid JSON",
        "records.jsonl#4": "invalid JSON",
        "broken.json": "invalid JSON",
        "menu.html": "no article text",
        "only_front_matter.md": "no article text",
    }


@pytest.mark.slow
def test_rag_index_skips_each_bad_file_by_name_and_indexes_the_rest(tmp_path: Path) -> None:
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    must_say = _write_bad_corpus(corpus)

    run = run_rag("index", "--json", "--corpus", corpus, "--index-dir", index, env=rag_env())
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout)

    skipped = {s["source"]: s["message"] for s in summary["skipped"]}
    assert set(skipped) == set(must_say), skipped
    for source, words in must_say.items():
        assert words.lower() in skipped[source].lower(), (source, skipped[source])
        assert f"rag: skipped: {source}: " in run.stderr, source  # each named on stderr too
    # The duplicate message names the file it duplicates; the no-outlet article is a warning, not a skip.
    assert skipped["copy_of_first_seed.md"].endswith("indexed once")
    assert f"rag: warning: no_outlet.txt: no outlet found; indexed as '{UNKNOWN_OUTLET}'" in run.stderr

    # Indexed: 5 seeds + the article without an outlet + the 2 good JSON lines.
    assert summary["articles"] == summary["added"] == 8
    status = run_rag("status", "--json", "--index-dir", index)
    assert status.returncode == 0, status.stderr
    outlets = json.loads(status.stdout)["outlets"]
    assert outlets[UNKNOWN_OUTLET] == 1 and outlets["Example Gazette"] == 2

    # Running again changes nothing and reports the same files.
    again = run_rag("index", "--json", "--corpus", corpus, "--index-dir", index)
    assert again.returncode == 0, again.stderr
    second = json.loads(again.stdout)
    assert (second["unchanged"], second["added"], second["updated"], second["removed"]) == (8, 0, 0, 0)
    assert {s["source"] for s in second["skipped"]} == set(must_say)


def test_oversized_file_is_refused_by_size_before_it_is_read(tmp_path: Path, monkeypatch) -> None:
    big = tmp_path / "corpus" / "big.txt"
    big.parent.mkdir()
    with big.open("wb") as f:
        f.truncate(50 * MB)  # size is all that may be looked at
    (big.parent / "ok.txt").write_text(NO_OUTLET, encoding="utf-8")
    reads: list[str] = []
    original = Path.read_bytes

    def spy(self: Path) -> bytes:
        reads.append(self.name)
        return original(self)

    monkeypatch.setattr(Path, "read_bytes", spy)
    result = read_corpus(big.parent, max_bytes=20 * MB)
    assert reads == ["ok.txt"]  # the big file was never read
    assert [p.source for p in result.skipped] == ["big.txt"]
    assert "too large (52.4 MB, limit 21.0 MB)" in result.skipped[0].message
    assert len(result.articles) == 1


def test_each_bad_file_alone_yields_a_problem_not_an_exception(tmp_path: Path) -> None:
    """The same files read one by one: every one is a `Problem` naming it, none raises."""
    corpus = tmp_path / "corpus"
    must_say = _write_bad_corpus(corpus)
    for name in {n.split("#")[0] for n in must_say} - {"copy_of_first_seed.md"}:
        result = read_file(corpus / name, name, max_bytes=20 * MB)
        assert result.problems and all(p.source.split("#")[0] == name for p in result.problems), name
    jsonl = read_file(corpus / "records.jsonl", "records.jsonl")
    assert [a.title for a in jsonl.articles] == [
        "Library extends opening hours, part 1",
        "Library extends opening hours, part 2",
    ]
