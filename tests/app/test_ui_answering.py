"""rag.ui.answering and render.draft_html: the streamed draft, the final answer, fallback alerts (no model)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from rag.answer import registry
from rag.answer.base import Answerer
from rag.config import Settings
from rag.types import Answer
from rag.ui import answering, render


def configured(spec: str) -> Answerer:
    """The answerer `RAG_LLM=spec` gives (no model is built: none is asked)."""
    return registry.get(spec, Settings(llm=spec))


def answer(answerer: str = "extractive", warnings: tuple[str, ...] = (), refused: bool = False) -> Answer:
    return Answer("Q?", "Text [1].", [], refused, answerer=answerer, warnings=list(warnings))


def test_collect_shows_the_growing_draft_then_returns_the_answer() -> None:
    events: list[str] = []

    @contextmanager
    def spinner() -> Iterator[None]:
        events.append("spinner on")
        yield
        events.append("spinner off")

    final = answer("ollama:m")
    got = answering.collect(["The ", "council ", "[1]."] + [final], lambda d: events.append(d), spinner())
    assert got is final
    assert events == ["spinner on", "spinner off", "The ", "The council ", "The council [1]."]


def test_collect_with_only_an_answer_shows_no_draft() -> None:
    shown: list[str] = []
    final = answer()
    assert answering.collect(iter([final]), shown.append) is final and shown == []


def test_collect_without_an_answer_is_an_error_not_a_silent_none() -> None:
    with pytest.raises(RuntimeError, match="without an answer"):
        answering.collect(["words"], lambda d: None)


def test_an_error_while_searching_reaches_the_caller() -> None:
    def failing() -> Iterator[str | Answer]:
        raise OSError("index gone")
        yield "never"

    with pytest.raises(OSError, match="index gone"):
        answering.collect(failing(), lambda d: None)


def test_a_fallback_reason_is_an_alert_other_warnings_stay_small_print() -> None:
    reason = "The language model (ollama:m) is unavailable: cannot reach the model server."
    fallback = answer("extractive", ("not mentioned anywhere in the corpus: GDP", reason))
    model = configured("ollama:m")
    assert answering.is_fallback(fallback, model)
    assert answering.split_warnings(fallback, model) == ([reason], ["not mentioned anywhere in the corpus: GDP"])
    # The same answer with the extractive answerer configured, an LLM answer, a refusal: no alert.
    assert answering.split_warnings(fallback, configured("extractive")) == ([], list(fallback.warnings))
    written = answer("ollama:m", ("Removed 1 sentence(s) that no given passage supports.",))
    assert answering.split_warnings(written, model) == ([], list(written.warnings))
    refusal = answer("extractive", ("not mentioned anywhere in the corpus: GDP",), refused=True)
    assert not answering.is_fallback(refusal, model)
    # A setting no answerer understands stands for the model that was asked for: its fallback is an alert too.
    assert answering.is_fallback(fallback, configured("gpt4"))


def test_the_answerer_is_named() -> None:
    assert answering.answerer_label(configured("extractive")) == "Answers: extractive (quoted passages)"
    assert answering.answerer_label(configured(" Extractive ")) == "Answers: extractive (quoted passages)"
    assert answering.answerer_label(configured("ollama:llama3.2")) == "Answers: ollama:llama3.2 (verified citations)"
    assert "ollama:llama3.2" in answering.waiting_text(configured("ollama:llama3.2"))
    assert answering.waiting_text(configured("extractive")) == "Searching the articles…"
    assert "quoted word for word" in answering.intro(configured("extractive"))
    assert "language model (openai:gpt-4o-mini)" in answering.intro(configured("openai:gpt-4o-mini"))


def test_draft_is_escaped_and_its_markers_are_not_styled_as_checked_citations() -> None:
    out = render.draft_html('<img src=x onerror="alert(1)"> said [1].\n\nSecond line [9].')
    assert "<img" not in out and "&lt;img src=x" in out
    assert "rag-cite" not in out and "[1]" in out and "[9]" in out
    assert out.count('<p class="rag-line">') == 2 and "rag-draft" in out and "checked" in out
