"""The built-in answerers, one module each; `rag.answer.registry` imports every module here (each registers itself).

- `extractive`: sentences quoted verbatim from the passages (`rag.answer.extractive`), no model; the default.
- `ollama`, `openai`, `llamacpp`: a chat model writes the answer, verified sentence by sentence (`rag.answer.llm`).
"""
