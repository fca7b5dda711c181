"""Retrieval on real articles with the real model: a small MultiHop-RAG subset, and the seed index.

The subset is 8 articles of the benchmark's corpus (the evidence of four dev questions about the Federal
Reserve, plus distractors from the same outlets and others), indexed once per module. On it, each question
must have evidence in the top 4 and nearly all gold facts must be in the top 10, the dates and outlets they
name must show in the search notes, and
`rag eval`'s MultiHop path (`multihop.run_cli`) must print its table and JSON.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from rag import multihop
from rag.config import Settings
from rag.evaluation import read_jsonl
from rag.pipeline import Pipeline

pytestmark = pytest.mark.slow

MH = Path(__file__).resolve().parents[2].parent / "shared" / "eval" / "multihop_rag"
# Questions whose evidence is two articles of Fortune / The Sydney Morning Herald / Business Line.
QUESTION_STARTS = (
    "Does the article from Fortune suggest that the Federal Reserve's interest rate hikes are unrelated",
    "Does the article from Fortune suggest that the Federal Reserve's interest rate hikes are a response",
    "Did the report from The Sydney Morning Herald on October 1, 2023, contradict the report from Fortune",
    "Do the 'Business Line' article's views on the actions of central bankers",
)
DISTRACTOR_OUTLETS = ("Fortune", "The Sydney Morning Herald", "TechCrunch", "Sporting News")


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    if not (MH / "queries_dev.jsonl").exists():
        pytest.skip("MultiHop-RAG data not found beside the project (../shared/eval/multihop_rag)")
    all_rows = read_jsonl(MH / "queries_dev.jsonl")
    picked = [next(r for r in all_rows if r["question"].startswith(s)) for s in QUESTION_STARTS]
    return picked + [next(r for r in all_rows if r["type"] == "null_query")]


@pytest.fixture(scope="module")
def mh_pipeline(rows: list[dict], tmp_path_factory: pytest.TempPathFactory) -> Pipeline:
    from rag.indexer import update_index

    wanted = {e["url"] for r in rows for e in r["evidence"]}
    records = read_jsonl(MH / "corpus.jsonl")
    chosen = [r for r in records if r["url"] in wanted]
    for outlet in DISTRACTOR_OUTLETS:  # the first article of each outlet that is not evidence
        chosen.append(next(r for r in records if r["outlet"] == outlet and r["url"] not in wanted))
    base = tmp_path_factory.mktemp("mh-subset")
    corpus = base / "corpus"
    corpus.mkdir()
    (corpus / "subset.jsonl").write_text("\n".join(json.dumps(r) for r in chosen) + "\n", encoding="utf-8")
    settings = Settings(index_dir=base / "index", corpus_dir=corpus)
    update_index(settings)
    return Pipeline(settings)


def test_the_evidence_of_the_subset_questions_is_found(mh_pipeline: Pipeline, rows: list[dict]) -> None:
    # On 8 articles every question must have a fact in the top 4; across the four questions at least 7 of
    # their 8 gold facts must be in the top 10 (one fact may sit in a chunk the re-rank ranks 11th or lower:
    # a single chunk boundary or model update can move it, and this is a smoke test, not the benchmark).
    scores = []
    for row in rows[:4]:
        hits = mh_pipeline.retrieve(mh_pipeline.search_query(row["question"]), k=10)
        score = multihop.score_retrieval([e["fact"] for e in row["evidence"]], [h.chunk.text for h in hits])
        assert score.hits4 == 1.0, row["question"]
        scores.append(score)
    found = sum(s.fact_recall * len(r["evidence"]) for s, r in zip(scores, rows[:4], strict=True))
    total = sum(len(r["evidence"]) for r in rows[:4])
    assert found >= total - 1, [s.fact_recall for s in scores]


def test_named_outlets_and_dates_are_searched_and_shown(mh_pipeline: Pipeline, rows: list[dict]) -> None:
    query = mh_pipeline.search_query(rows[2]["question"])  # SMH on October 1, Fortune on October 6
    sources = {(s.outlets, s.since) for s in query.subqueries if s.kind == "source"}
    assert (("The Sydney Morning Herald",), "2023-10-01") in sources
    assert (("Fortune",), "2023-10-06") in sources
    assert any("Fortune" in n and "2023-10-06" in n for n in query.notes)
    hits = mh_pipeline.retrieve(query, k=10)
    assert {"Fortune", "The Sydney Morning Herald"} <= {h.article.outlet for h in hits}


def test_run_cli_prints_table_and_json(mh_pipeline: Pipeline, rows: list[dict], capsys) -> None:
    assert multihop.run_cli(mh_pipeline, rows, argparse.Namespace(json=False, limit=None)) == 0
    text = capsys.readouterr().out
    assert "Hits@4" in text and "AllFacts@10" in text and "overall" in text
    assert "size 1000 chars" in text
    assert multihop.run_cli(mh_pipeline, rows, argparse.Namespace(json=True, limit=2)) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["chunks"]["chunk_size"] == 1000 and len(out["items"]) == 2
    assert out["by_type"]["overall"]["scored"] == 2


def test_a_source_the_corpus_lacks_is_refused(seed_pipeline: Pipeline) -> None:
    answer = seed_pipeline.ask("According to a Bloomberg article, what did Stephen Miller say about cartels?")
    assert answer.refused and answer.citations == []
    assert any("Bloomberg" in w for w in answer.warnings)
    # The same question without the foreign source is answered from the seed articles.
    assert not seed_pipeline.ask("What did Stephen Miller say about cartels?").refused


def test_a_corpus_outlet_named_in_the_question_is_searched_on_its_own(seed_pipeline: Pipeline) -> None:
    query = seed_pipeline.search_query("What did Dawn report about Stephen Miller and the cartels?")
    assert [s.outlets for s in query.subqueries if s.kind == "source"] == [("Dawn",)]
    assert any("Dawn" in n for n in query.notes)
    assert "Dawn" in {h.article.outlet for h in seed_pipeline.retrieve(query, k=8)}
