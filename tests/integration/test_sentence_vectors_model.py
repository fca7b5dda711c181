"""Sentence vectors with the real model and the real seed index: pooled from the chunk's own model run (the
chunk vector is unchanged), one for every quotable sentence, and carrying the sentence's context."""

from __future__ import annotations

import numpy as np
import pytest

from rag.chunking import chunk_sentences
from rag.config import Settings
from rag.embedding import get_embedder
from rag.indexer import embedding_text, sentence_spans_in
from rag.store import load_index

pytestmark = pytest.mark.slow


def test_every_sentence_of_every_chunk_has_a_vector_and_chunk_vectors_are_unchanged(seed_index: Settings) -> None:
    index = load_index(seed_index.index_dir, seed_index.model)
    assert index.sentences is not None
    emb = get_embedder(seed_index.model, backend=seed_index.embed_backend)
    for cid, chunk in index.chunks.items():
        spans = chunk_sentences(chunk)
        assert spans and all(index.sentences.lookup(cid, s) is not None for s, _ in spans)
    chunk = index.chunks[min(index.chunks)]
    text = embedding_text(index.articles[chunk.article_id], chunk, seed_index.embed_title)
    whole, rows = emb.encode_spans([text], [sentence_spans_in(chunk, text)])
    np.testing.assert_allclose(whole[0], index.faiss_index.reconstruct(int(chunk.id)), atol=1e-5)
    np.testing.assert_array_equal(emb.encode([text])[0], whole[0])  # the same vector `encode` gives
    stored = np.stack([index.sentences.lookup(chunk.id, s) for s, _ in chunk_sentences(chunk)])
    np.testing.assert_allclose(stored, rows[0], atol=2e-3)  # float16 on disk


def test_a_sentence_vector_knows_who_he_is(seed_index: Settings) -> None:
    """Al Jazeera: "Organised crime, he concluded, 'can only be defeated with military power'." names neither
    Miller nor cartels; pooled inside its chunk it is close to the question it answers, alone it is not."""
    index = load_index(seed_index.index_dir, seed_index.model)
    assert index.sentences is not None
    emb = get_embedder(seed_index.model, backend=seed_index.embed_backend)
    q = emb.encode(["According to Stephen Miller, what is the only way cartels can be defeated?"])[0]
    found = [
        (cid, s, e)
        for cid, c in index.chunks.items()
        for s, e in chunk_sentences(c)
        if "he concluded" in index.articles[c.article_id].body[s:e]
    ]
    assert found
    cid, s, e = found[0]
    alone = emb.encode([index.articles[index.chunks[cid].article_id].body[s:e]])[0]
    in_context = index.sentences.lookup(cid, s)
    assert in_context is not None
    assert float(in_context @ q) > float(alone @ q) + 0.1
