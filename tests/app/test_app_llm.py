"""The chat app with a language model as the answerer: streamed draft, verified answer and cards, fallbacks.

Real embedding model and seed index (hence `slow`); the chat model is scripted with LangChain's
`GenericFakeChatModel`, put in through `rag.answer.llm.get_chat_model` (the app runs in this process), or is a
real client whose server is down.
"""

from __future__ import annotations

import re
import socket

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel

from rag.answer import llm
from rag.config import Settings
from rag.pipeline import Pipeline
from rag.ui import render

from .helpers import ask, htmls

pytestmark = pytest.mark.slow

Q_MILLER = "According to Stephen Miller, what is the only way cartels can be defeated?"


def closed_port() -> int:
    """A local port nothing listens on (bound, then closed): connecting to it is refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_streamed_answer_is_replaced_by_the_verified_one_with_cards(app_for, tmp_index: Settings, monkeypatch) -> None:
    settings = tmp_index.model_copy(update={"llm": "ollama:scripted"})
    pipe = Pipeline(settings)  # the passages the app will give the model, to script a reply that cites one
    hits = pipe.retrieve(pipe.search_query(Q_MILLER))[: settings.llm_passages]
    n = next(i for i, h in enumerate(hits, start=1) if "military power" in h.chunk.text)
    reply = f"Stephen Miller said that organised crime can only be defeated with military power [{n}]."
    monkeypatch.setattr(llm, "get_chat_model", lambda s: GenericFakeChatModel(messages=iter([reply])))
    drafts: list[str] = []
    draft_html = render.draft_html
    monkeypatch.setattr(render, "draft_html", lambda text: drafts.append(text) or draft_html(text))

    at = app_for(settings).run()
    assert any("Answers: ollama:scripted (verified citations)" in v for v in htmls(at.sidebar))
    ask(at, Q_MILLER)

    # The model's words were shown as they came, each draft extending the one before.
    assert len(drafts) > 3 and drafts[-1] == reply
    assert all(b.startswith(a) for a, b in zip(drafts, drafts[1:], strict=False))
    # Then replaced by the checked answer: renumbered marker, one card quoting the supporting passage.
    answer = at.session_state["messages"][-1].answer
    assert answer.answerer == "ollama:scripted" and not answer.warnings
    assert answer.text == "Stephen Miller said that organised crime can only be defeated with military power [1]."
    assert not any("rag-answer rag-draft" in v for v in htmls(at))
    shown = next(v for v in htmls(at) if 'class="rag-answer"' in v)
    assert '<span class="rag-cite">[1]</span>' in shown and "organised crime" in shown
    cards = [v for v in htmls(at) if 'class="rag-card"' in v]
    assert len(cards) == 1 and "only be defeated with military" in answer.citations[0].quote
    assert f'<span class="rag-outlet">{answer.citations[0].outlet}</span>' in cards[0]
    assert any("written by ollama:scripted" in v for v in htmls(at) if "rag-search" in v)
    assert not at.warning and not at.error


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        ("ollama:tiny", "cannot reach the model server"),  # server down
        ("llamacpp:/nonexistent/model.gguf", "needs its extra|model file not found"),  # either, by the install
    ],
)
def test_unusable_model_gives_a_warning_and_the_quoted_answer(
    app_for, tmp_index: Settings, spec: str, reason: str
) -> None:
    settings = tmp_index.model_copy(update={"llm": spec, "llm_base_url": f"http://127.0.0.1:{closed_port()}"})
    at = app_for(settings).run()
    ask(at, Q_MILLER)
    answer = at.session_state["messages"][-1].answer
    assert answer.answerer == "extractive" and not answer.refused and answer.citations
    warnings = [w.value.replace("\\", "") for w in at.warning]
    assert len(warnings) == 1 and f"The language model ({spec}) is unavailable" in warnings[0]
    assert re.search(reason, warnings[0]) and "quoted-passage answer instead" in warnings[0]
    assert "Traceback" not in warnings[0]
    assert any('class="rag-answer"' in v for v in htmls(at))
    assert len([v for v in htmls(at) if 'class="rag-card"' in v]) == len(answer.citations)
    assert not at.error
