"""`RAG_LLM=extractive` (the default): the answer is sentences quoted verbatim from the passages, no model."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rag.answer import extractive
from rag.answer.base import AnswerStream, CorpusStats
from rag.answer.registry import register
from rag.config import Settings
from rag.types import Answer, Hit, SearchQuery, Turn


@dataclass(frozen=True, slots=True)
class ExtractiveAnswerer:
    settings: Settings
    name: str = "extractive"
    needs_llm: bool = False
    streams: bool = False

    def answer(self, question: str, query: SearchQuery, hits: list[Hit], corpus: CorpusStats) -> Answer:
        """The extractive answer; a follow-up only about sources ("And the other outlets?") is scored against
        the topic it was resolved to, since its own words ("outlets") name nothing the passages could say."""
        asked = question if question in query.text else query.text
        answer = extractive.answer(asked, query, hits, corpus, self.settings)
        answer.question = question
        return answer

    def stream(self, question: str, query: SearchQuery, hits: list[Hit], corpus: CorpusStats) -> AnswerStream:
        yield self.answer(question, query, hits, corpus)

    def rewrite(self, question: str, history: Sequence[Turn]) -> tuple[str | None, str]:
        return None, ""


register(
    "extractive",
    lambda model, settings: ExtractiveAnswerer(settings),
    summary="sentences quoted verbatim from the passages, no language model",
)
