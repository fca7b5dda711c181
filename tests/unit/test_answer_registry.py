"""rag/answer/registry.py: answerers by name, their capabilities, a new one added by registering it (as a module
or a plugin would), and a setting no answerer understands (the extractive answer, with the reason)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pytest

from rag.answer import extractive, registry
from rag.answer.answerers.extractive import ExtractiveAnswerer
from rag.answer.base import Answerer, AnswerStream, CorpusStats
from rag.answer.llm import ChatAnswerer
from rag.config import Settings
from rag.types import Answer, Article, ArticleRef, Hit, SearchQuery, Turn

from .helpers import memory_retriever

ARTICLE = Article(
    id="https://example.com/miller",
    outlet="Dawn",
    title="Military force is the only way, official says",
    published="2026-03-06",
    url="https://example.com/miller",
    body="Stephen Miller told military leaders in Miami that cartels can only be defeated with military force.",
)
QUESTION = "How can cartels be defeated, according to Stephen Miller?"


@dataclass
class FirstPassage:
    """A toy answerer: the first passage, quoted whole."""

    model: str
    name: str = "first"
    needs_llm: bool = False
    streams: bool = False

    def answer(self, question: str, query: SearchQuery, hits: list[Hit], corpus: CorpusStats) -> Answer:
        text = corpus.body(hits[0].article.id)[hits[0].chunk.start : hits[0].chunk.end]
        return Answer(question, f"{text} [1]", [], refused=False, answerer=f"{self.name}:{self.model}")

    def stream(self, question: str, query: SearchQuery, hits: list[Hit], corpus: CorpusStats) -> AnswerStream:
        yield self.answer(question, query, hits, corpus)

    def rewrite(self, question: str, history: Sequence[Turn]) -> tuple[str | None, str]:
        return None, ""


@pytest.fixture
def clean_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Registrations made by a test are undone after it."""
    registry.names()  # the built-ins, loaded once
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))


def _hits() -> tuple[list[Hit], CorpusStats]:
    corpus = memory_retriever([ARTICLE])
    ref = ArticleRef(ARTICLE.id, ARTICLE.outlet, ARTICLE.title, ARTICLE.published, ARTICLE.url)
    return [Hit(c, ref, score=1.0, dense=0.8) for c in corpus.index.chunks.values()], corpus


def test_the_built_in_answerers_and_their_capabilities() -> None:
    assert registry.names() == ["extractive", "llamacpp", "ollama", "openai"]
    settings = Settings()
    ext = registry.get("extractive", settings)
    assert isinstance(ext, ExtractiveAnswerer)
    assert (ext.name, ext.needs_llm, ext.streams) == ("extractive", False, False)
    for spec in ("ollama:llama3.2", "OpenAI:gpt-4o-mini", "llamacpp:model.gguf"):
        chat = registry.get(spec, settings.model_copy(update={"llm": spec}))
        assert isinstance(chat, ChatAnswerer) and chat.provider is not None
        assert (chat.name, chat.needs_llm, chat.streams) == (spec, True, True)
    assert registry.get(" Extractive ", settings).name == "extractive"


def test_a_setting_is_a_name_and_a_model_where_the_answerer_takes_one() -> None:
    reg, model = registry.parse("ollama:llama3.2:1b")
    assert (reg.name, model) == ("ollama", "llama3.2:1b")
    for bad in ("gpt4", "ollama", "ollama:", "extractive:large", "hf:model", ""):
        with pytest.raises(registry.UnknownAnswerer, match="not understood") as err:
            registry.parse(bad)
        assert "'extractive'" in str(err.value) and "'ollama:<model>'" in str(err.value)
        assert "'llamacpp:<file.gguf or package>'" in str(err.value)


def test_a_registered_answerer_is_what_the_setting_gets(clean_registry: None) -> None:
    registry.register("first", lambda model, settings: FirstPassage(model), usage="first:<n>", summary="toy")
    assert "first" in registry.names()
    answerer: Answerer = registry.get("first:3", Settings(llm="first:3"))
    hits, corpus = _hits()
    got = answerer.answer(QUESTION, SearchQuery(QUESTION), hits, corpus)
    assert got.answerer == "first:3" and got.text.startswith("Stephen Miller told")
    with pytest.raises(ValueError, match="without a colon"):
        registry.register("a:b", lambda model, settings: FirstPassage(model))


def test_a_plugin_registers_through_its_entry_point(clean_registry: None, monkeypatch: pytest.MonkeyPatch) -> None:
    class EntryPoint:
        def __init__(self, name: str, fails: bool = False) -> None:
            self.name, self.fails = name, fails

        def load(self) -> None:
            if self.fails:
                raise ImportError("broken plugin")
            registry.register(self.name, lambda model, settings: FirstPassage(model, name=self.name))

    groups: list[str] = []

    def entry_points(group: str) -> list[EntryPoint]:
        groups.append(group)
        return [EntryPoint("broken", fails=True), EntryPoint("plugged")]

    monkeypatch.setattr(registry, "entry_points", entry_points)
    monkeypatch.setattr(registry, "_loaded", False)
    assert "plugged" in registry.names() and "broken" not in registry.names()
    assert groups == [registry.ENTRY_POINT_GROUP] and "extractive" in registry.names()


def test_an_unknown_setting_answers_extractively_and_says_why() -> None:
    hits, corpus = _hits()
    settings = Settings(llm="gpt4")
    answerer = registry.get("gpt4", settings)
    assert answerer.needs_llm and answerer.name == "gpt4"  # it stands for the model that was asked for
    got = answerer.answer(QUESTION, SearchQuery(QUESTION, question=QUESTION), hits, corpus)
    ext = extractive.answer(QUESTION, SearchQuery(QUESTION, question=QUESTION), hits, corpus, settings)
    assert got.answerer == "extractive" and not got.refused and got.text == ext.text
    assert "RAG_LLM='gpt4' is not understood" in got.warnings[-1]
    text, note = answerer.rewrite("And then?", [Turn(QUESTION, got.text)])
    assert text is None and "not understood" in note and note.endswith("Follow-up resolved without it.")


def test_the_extractive_answerer_scores_a_source_only_follow_up_against_its_topic() -> None:
    hits, corpus = _hits()
    answerer = registry.get("extractive", Settings())
    query = SearchQuery(f"{QUESTION} Dawn", question="And Dawn?")
    got = answerer.answer("And Dawn?", query, hits, corpus)
    assert got.question == "And Dawn?" and not got.refused and got.citations
    assert [item for item in answerer.stream("And Dawn?", query, hits, corpus)] == [got]
    assert answerer.rewrite("And Dawn?", []) == (None, "")
