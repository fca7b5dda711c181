"""Page furniture: sentences that recur verbatim across articles ("Please enter a valid email address",
"CLICK HERE TO GET THE FOX NEWS APP", "Read our privacy notice"), which an answer must never quote.

Scraped news bodies keep the newsletter boxes, share bars and app prompts of the pages they came from. An
outlet's own reporting does not repeat a sentence word for word in three different articles; its page
template does. So a sentence found in at least `MIN_ARTICLES` articles of the corpus is furniture (how many
there are on the MultiHop-RAG articles, and how many answers quoted one: docs/evaluation.md, session 14). Wire
copy that two outlets both print stays quotable.

Counted over every article of a generation when it is written (`rag.store.write_generation`) and kept as a
plain file of 64-bit sentence keys, `REPEATED_FILE`, under the manifest's checksums; the answerers ask
`CorpusStats.repeated` and skip those sentences (`rag.answer.evidence.hit_sentences`).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from rag.text.sentences import sentence_spans

#: A sentence in this many articles is furniture (two: the same wire story in two outlets is still news).
MIN_ARTICLES = 3
REPEATED_FILE = "repeated_sentences.npy"


def sentence_key(text: str) -> int:
    """A 64-bit key of a sentence, blind to case and spacing (as a signed int64, storable anywhere)."""
    digest = hashlib.blake2b(" ".join(text.split()).lower().encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little", signed=True)


def repeated_keys(bodies: Iterable[str], min_articles: int = MIN_ARTICLES) -> np.ndarray:
    """The sorted keys of the sentences found in at least `min_articles` of `bodies` (once per article)."""
    counts: Counter[int] = Counter()
    for body in bodies:
        counts.update({sentence_key(body[s:e]) for s, e in sentence_spans(body)})
    return np.array(sorted(k for k, n in counts.items() if n >= min_articles), dtype=np.int64)


class Repeated:
    """The furniture sentences of one generation: `sentence in repeated`."""

    def __init__(self, keys: np.ndarray) -> None:
        self._keys = frozenset(int(k) for k in keys)
        self.keys = keys

    def __contains__(self, sentence: str) -> bool:
        return bool(self._keys) and sentence_key(sentence) in self._keys

    def __len__(self) -> int:
        return len(self._keys)

    def save(self, folder: Path) -> str:
        """Write `REPEATED_FILE` into `folder`; returns its name."""
        np.save(folder / REPEATED_FILE, np.asarray(self.keys, dtype=np.int64), allow_pickle=False)
        return REPEATED_FILE

    @classmethod
    def load(cls, folder: Path) -> Repeated:
        """Read `REPEATED_FILE` (ValueError when it is not a plain int64 array)."""
        keys = np.load(folder / REPEATED_FILE, allow_pickle=False)
        if keys.dtype != np.int64 or keys.ndim != 1:
            raise ValueError(f"{REPEATED_FILE} holds {keys.dtype} of shape {keys.shape}, not int64 keys")
        return cls(keys)

    @classmethod
    def of(cls, bodies: Iterable[str]) -> Repeated:
        return cls(repeated_keys(bodies))
