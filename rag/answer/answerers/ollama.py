"""`RAG_LLM=ollama:<model>`: a model served by Ollama (langchain-ollama; `llm_base_url` or localhost:11434)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rag.answer.llm import ChatProvider, register_chat
from rag.config import Settings

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel


def make(name: str, settings: Settings) -> BaseChatModel:
    from langchain_ollama import ChatOllama

    return ChatOllama(
        model=name,
        base_url=settings.llm_base_url,
        temperature=settings.llm_temperature,
        num_predict=settings.llm_max_tokens,
        client_kwargs={"timeout": settings.llm_timeout},
    )


register_chat(
    ChatProvider("ollama", make, extra="ollama", modules=("langchain_ollama",), summary="a model on an Ollama server")
)
