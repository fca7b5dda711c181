"""`RAG_LLM=openai:<model>`: any OpenAI-compatible server at `llm_base_url` (langchain-openai; the key comes from
OPENAI_API_KEY, which the OpenAI client reads itself)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rag.answer.llm import ChatProvider, register_chat
from rag.config import Settings

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel


def make(name: str, settings: Settings) -> BaseChatModel:
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(
        model=name,
        base_url=settings.llm_base_url,
        temperature=settings.llm_temperature,
        max_tokens=settings.llm_max_tokens,
        timeout=settings.llm_timeout,
        max_retries=0,  # a retry would only double the wait before the fallback
    )


register_chat(
    ChatProvider(
        "openai",
        make,
        extra="openai",
        modules=("langchain_openai",),
        summary="an OpenAI-compatible server (OpenAI, vLLM, llama.cpp server, LM Studio)",
    )
)
