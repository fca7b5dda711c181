"""Helpers shared by the AppTest modules: ask a question through the chat input, read the rendered HTML."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest


def ask(at: AppTest, question: str) -> AppTest:
    """Type `question` into the chat input, run the app, and fail on any exception it raised."""
    at.chat_input[0].set_value(question).run()
    assert not at.exception, at.exception
    return at


def htmls(at: AppTest) -> list[str]:
    """The HTML blocks the app rendered (answers, cards, notes), in order."""
    return [h.value for h in at.html]
