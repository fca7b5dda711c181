"""Vectors of the quotable sentences of every chunk, computed at index time by late chunking.

The answerer scores each sentence of the retrieved passages by how close it is to the question
(`rag.answer.evidence`). Embedding those sentences at answer time costs 7-15 ms each on a 2-core laptop, so
only a handful could be; and a sentence embedded alone loses who "he" is. So the indexer pools each sentence's
token vectors out of the same model run that embeds its chunk (`Embedder.encode_spans`): no extra model run,
every sentence of every passage gets a vector that knows its context.

On disk (a generation of the local index): two plain .npy files under the manifest's checksums, never pickled:
    sentence_keys.npy     int64 (M, 3): chunk id, start, end (span in the article body, `chunk_sentences`)
    sentence_vectors.npy  float16 (M, d): unit vectors (float16: half the size, cosines within ~1e-3)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

KEYS_FILE = "sentence_keys.npy"
VECTORS_FILE = "sentence_vectors.npy"
FILES = (KEYS_FILE, VECTORS_FILE)


class SentenceFilesBroken(ValueError):
    """The sentence files do not fit together or with the index (the caller says what to do)."""


@dataclass
class SentenceVectors:
    """Sentence keys (chunk id, start, end) and their vectors, row by row."""

    keys: np.ndarray  # int64 (M, 3)
    vectors: np.ndarray  # float16 (M, d); memory-mapped when loaded from disk
    _order: np.ndarray | None = field(default=None, repr=False)  # rows sorted by (chunk id, start)
    _sorted: np.ndarray | None = field(default=None, repr=False)  # their combined keys, for a binary search

    @staticmethod
    def empty(dimension: int) -> SentenceVectors:
        return SentenceVectors(np.zeros((0, 3), dtype=np.int64), np.zeros((0, dimension), dtype=np.float16))

    @staticmethod
    def of(chunk_id: int, spans: list[tuple[int, int]], vectors: np.ndarray) -> SentenceVectors:
        keys = np.asarray([(chunk_id, s, e) for s, e in spans], dtype=np.int64).reshape(-1, 3)
        vectors = np.asarray(vectors, dtype=np.float16)
        if vectors.ndim != 2 or len(vectors) != len(spans):
            raise SentenceFilesBroken(f"{len(spans)} sentences but vectors of shape {vectors.shape}")
        return SentenceVectors(keys, vectors)

    @staticmethod
    def concat(parts: Iterable[SentenceVectors], dimension: int) -> SentenceVectors:
        parts = [p for p in parts if len(p)]
        if not parts:
            return SentenceVectors.empty(dimension)
        return SentenceVectors(np.concatenate([p.keys for p in parts]), np.concatenate([p.vectors for p in parts]))

    def __len__(self) -> int:
        return len(self.keys)

    def without_chunks(self, chunk_ids: Iterable[int]) -> SentenceVectors:
        gone = np.fromiter(chunk_ids, dtype=np.int64)
        keep = ~np.isin(self.keys[:, 0], gone)
        return SentenceVectors(self.keys[keep], self.vectors[keep])

    def lookup(self, chunk_id: int, start: int) -> np.ndarray | None:
        """The unit vector (float32) of the sentence starting at `start` in chunk `chunk_id`, if it has one."""
        if self._sorted is None:
            # One int64 per sentence (chunk id in the high bits, start in the low 32) instead of a dict of
            # tuples: ~8 bytes a sentence rather than ~150, for an index of millions of sentences.
            combined = (self.keys[:, 0] << 32) | self.keys[:, 1]
            self._order = np.argsort(combined, kind="stable")
            self._sorted = combined[self._order]
        key = (chunk_id << 32) | start
        at = int(np.searchsorted(self._sorted, key))
        if at >= len(self._sorted) or int(self._sorted[at]) != key:
            return None
        assert self._order is not None
        v = np.asarray(self.vectors[int(self._order[at])], dtype=np.float32)
        return v if v.any() else None  # a zero row: the sentence lay past the model's token limit

    def save(self, folder: Path) -> list[str]:
        np.save(folder / KEYS_FILE, np.ascontiguousarray(self.keys, dtype=np.int64), allow_pickle=False)
        np.save(folder / VECTORS_FILE, np.ascontiguousarray(self.vectors, dtype=np.float16), allow_pickle=False)
        return list(FILES)

    @staticmethod
    def load(folder: Path, dimension: int, chunk_ids: Iterable[int]) -> SentenceVectors:
        """Read and check the two files: matching rows, the index's dimension, keys of chunks it holds."""
        try:
            keys = np.load(folder / KEYS_FILE, allow_pickle=False)
            # Memory-mapped: an answer reads the few dozen rows of its passages, not the whole file.
            vectors = np.load(folder / VECTORS_FILE, allow_pickle=False, mmap_mode="r")
        except (OSError, ValueError) as exc:
            raise SentenceFilesBroken(f"cannot read the sentence vectors ({exc})") from None
        if (
            keys.ndim != 2 or keys.shape[1] != 3 or keys.dtype != np.int64
            or vectors.shape != (len(keys), dimension) or vectors.dtype != np.float16
        ):  # fmt: skip
            raise SentenceFilesBroken(
                f"sentence files of shapes {keys.shape} and {vectors.shape} do not fit an index of "
                f"dimension {dimension}"
            )
        known = np.fromiter(chunk_ids, dtype=np.int64)
        if len(keys) and not np.isin(keys[:, 0], known).all():
            raise SentenceFilesBroken("sentence vectors name chunks the index does not hold")
        return SentenceVectors(keys, vectors)
