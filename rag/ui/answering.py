"""An answer while it is being written: the model's draft as it streams, then the final, verified `Answer`.

`Pipeline.ask_stream` yields text chunks (a language model's provisional, unchecked words) and then exactly
one `Answer`. The chat shows the growing draft and replaces it with the final answer and its citation cards
when the Answer arrives (`collect`). With the extractive answerer only the Answer comes.

Also here: how the answerer in use (`Pipeline.answerer`, from rag/answer/registry.py) is named, going by its
capabilities (`needs_llm`), never by its name, and which warnings of an answer must be shown prominently: when
a language model is configured but the answer is the extractive one (server down, model missing, timeout,
nothing verifiable), the user must see why, not just small print.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager, nullcontext
from itertools import chain

from rag.answer.base import Answerer
from rag.types import Answer


def answerer_label(answerer: Answerer) -> str:
    """'Answers: extractive (quoted passages)' or 'Answers: ollama:llama3.2 (verified citations)'."""
    if not answerer.needs_llm:
        return f"Answers: {answerer.name} (quoted passages)"
    return f"Answers: {answerer.name} (verified citations)"


def intro(answerer: Answerer) -> str:
    """The line under the page title: what an answer is, with this answerer."""
    if not answerer.needs_llm:
        return (
            "Answers are passages quoted word for word from the articles, each with its outlet, date and link. "
            "When the articles do not answer, it says so."
        )
    return (
        f"Answers are written by a language model ({answerer.name}) from passages of the articles; each "
        "sentence is checked against the passage it cites, quoted word for word with its outlet, date and link. "
        "When the articles do not answer, it says so."
    )


def waiting_text(answerer: Answerer) -> str:
    """What the spinner says until the first words (or the answer) arrive."""
    if not answerer.needs_llm:
        return "Searching the articles…"
    return f"Searching the articles and asking {answerer.name}…"


def is_fallback(answer: Answer, answerer: Answerer) -> bool:
    """True when a language model is configured but `answer` is the extractive one: the model could not be
    used or wrote nothing verifiable. A refusal is not a fallback (it is decided before any model is asked)."""
    return answerer.needs_llm and not answer.refused and answer.answerer == "extractive"


def split_warnings(answer: Answer, answerer: Answerer) -> tuple[list[str], list[str]]:
    """(alerts, notes): the reason for a fallback is an alert; every other warning stays small print.

    `rag.answer.llm` appends the reason for falling back after any warning the extractive answer had.
    """
    if is_fallback(answer, answerer) and answer.warnings:
        return answer.warnings[-1:], answer.warnings[:-1]
    return [], list(answer.warnings)


def collect(
    items: Iterable[str | Answer],
    show: Callable[[str], object],
    waiting: AbstractContextManager[object] | None = None,
) -> Answer:
    """The final Answer of an `ask_stream` stream; `show(draft)` gets the text written so far after each chunk.

    `waiting` (a spinner) stays open until the first item arrives: the search, and with a language model
    the processing of its prompt, happen before anything is yielded.
    """
    stream = iter(items)
    with waiting if waiting is not None else nullcontext():
        first = next(stream, None)
    draft: list[str] = []
    for item in chain([first] if first is not None else [], stream):
        if isinstance(item, Answer):
            return item
        draft.append(item)
        show("".join(draft))
    raise RuntimeError("the answer stream ended without an answer")
