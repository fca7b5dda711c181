"""rag/config.py: the settings grouped by concern, every one described, the flat `RAG_<NAME>` environment names
kept, the README's tables generated from them, and `rag config`."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from rag import cli, config
from rag.config import GROUPS, Settings

ROOT = Path(__file__).resolve().parents[2]


def test_every_setting_is_in_exactly_one_group_and_described() -> None:
    grouped = [name for cls in GROUPS.values() for name in cls.model_fields]
    assert sorted(grouped) == sorted(Settings.model_fields) and len(grouped) == len(set(grouped))
    for name, field in Settings.model_fields.items():
        assert field.description and field.description.strip(), f"{name} has no description"
    assert list(GROUPS) == ["index", "storage", "retrieval", "answer", "llm", "ui"]


def test_environment_names_stay_flat_and_prefixed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_TOP_K", "3")
    monkeypatch.setenv("RAG_LLM", "ollama:llama3.2")
    monkeypatch.setenv("RAG_EMBED_BACKEND", "torch")
    monkeypatch.setenv("RAG_EXAMPLE_QUESTIONS", '["What did Dawn say?"]')
    monkeypatch.setenv("RAG_REFUSAL_THRESHOLD", "0.4")
    monkeypatch.setenv("RAG_BACKEND", "postgres")
    monkeypatch.setenv("RAG_WATCH", "true")
    s = Settings()
    assert (s.top_k, s.llm, s.embed_backend) == (3, "ollama:llama3.2", "torch")
    assert s.example_questions == ["What did Dawn say?"]
    assert (s.refusal_threshold, s.backend, s.watch) == (0.4, "postgres", True)
    # A group read alone sees the same variables (the same prefix, no nesting).
    assert config.RetrievalSettings().top_k == 3 and config.LLMSettings().llm == "ollama:llama3.2"


def test_kinds_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_BACKEND", "mysql")
    with pytest.raises(ValueError, match="local"):
        Settings()


def test_the_readme_tables_are_the_generated_ones() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    found = re.search(r"<!-- settings:start -->\n(.*?)<!-- settings:end -->", readme, flags=re.S)
    assert found, "README.md lost its settings markers"
    assert found.group(1) == config.markdown_tables(), "README settings tables are stale: run `rag config --markdown`"
    for info in config.describe():
        assert f"| `{info.env}` |" in found.group(1)


def test_every_variable_the_docs_name_exists() -> None:
    known = {info.env for info in config.describe()}
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        named = set(re.findall(r"\bRAG_[A-Z0-9_]+\b", path.read_text(encoding="utf-8")))
        assert named <= known, f"{path.name} names settings that do not exist: {sorted(named - known)}"


def test_rag_config_lists_every_setting_with_its_value(monkeypatch, capsys) -> None:
    monkeypatch.setenv("RAG_TOP_K", "5")
    monkeypatch.setenv("RAG_PG_DSN", "postgresql://reader:s3cret@db.local/news")
    config.get_settings.cache_clear()
    try:
        assert cli.main(["config"]) == 0
        out = capsys.readouterr().out
        assert cli.main(["config", "--json"]) == 0
        rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    finally:
        config.get_settings.cache_clear()
    for info in config.describe():
        assert info.env in out
    assert "RAG_TOP_K" in out and "Retrieval: the hybrid search" in out and "ollama:<model>" in out
    by_env = {r["env"]: r for r in rows}
    assert by_env["RAG_TOP_K"]["value"] == "5" and by_env["RAG_TOP_K"]["group"] == "retrieval"
    assert by_env["RAG_PG_DSN"]["value"] == "postgresql://reader:***@db.local/news" and "s3cret" not in out
    assert cli.main(["config", "--markdown"]) == 0
    assert capsys.readouterr().out == config.markdown_tables()
