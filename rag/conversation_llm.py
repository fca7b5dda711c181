"""Follow-ups with an LLM: LangChain's history-aware question rewriting (only when `Settings.llm` is a model).

The default, LLM-free resolver is `rag.reading`; this module is the alternative the LLM answerer uses,
and the pipeline falls back to the default whenever the model fails (see `rag.answer.llm.rewrite_question`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from rag.text.markers import MARKER
from rag.types import Turn

#: LangChain's contextualising prompt (as in `create_history_aware_retriever`'s documentation).
REWRITE_PROMPT = (
    "Given a chat history and the latest user question which might reference context in the chat history, "
    "formulate a standalone question which can be understood without the chat history. Do NOT answer the "
    "question, just reformulate it if needed and otherwise return it as is."
)
#: Earlier turns given to the model; the last few carry what a follow-up refers to.
MAX_TURNS = 3
#: Characters of each earlier answer given to the model (long quoted answers: the start names the subject).
MAX_ANSWER_CHARS = 1500


def rewrite_with_llm(question: str, history: Sequence[Turn], model: Any) -> str | None:
    """A standalone version of `question` written by a LangChain chat `model` from the last turns.

    The chain is the one `create_history_aware_retriever` builds (prompt with a `chat_history` placeholder |
    model | string parser), without the retriever: the pipeline searches the result itself. Without history
    the question is returned as is (as that function does). Returns None when the output is not a usable
    question (empty, no question mark, citation markers, or far longer than a question: an answer or a
    ramble); raises whatever the model raises.
    """
    from langchain_core.messages import AIMessage, HumanMessage
    from langchain_core.output_parsers import StrOutputParser
    from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder

    if not history:
        return question
    prompt = ChatPromptTemplate.from_messages(
        [("system", REWRITE_PROMPT), MessagesPlaceholder("chat_history"), ("human", "{input}")]
    )
    chat_history: list[Any] = []
    for turn in history[-MAX_TURNS:]:
        chat_history.append(HumanMessage(turn.question))
        if turn.answer:
            chat_history.append(AIMessage(turn.answer[:MAX_ANSWER_CHARS]))
    out = (prompt | model | StrOutputParser()).invoke({"input": question, "chat_history": chat_history})
    lines = [ln.strip() for ln in str(out).strip().splitlines() if ln.strip()]
    text = re.sub(r"^(standalone question|question)\s*:\s*", "", lines[0], flags=re.I) if lines else ""
    text = text.strip().strip('"“”').strip()
    # A rewrite is a question of similar length (3× the question plus a sentence of context at most). Small
    # models often answer instead, or copy the last answer: a text that is not a question, or that carries
    # citation markers, is not used.
    if not text.endswith("?") or MARKER.search(text) or len(text) > 3 * len(question) + 200:
        return None
    return text
