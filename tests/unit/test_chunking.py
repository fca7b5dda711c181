"""Chunk spans: exact, bounded, overlapping, sentence-aware; checked on fixed cases and many random texts."""

from __future__ import annotations

import random
import re

import pytest

from rag.chunking import chunk_article, chunk_spans
from rag.text.sentences import sentence_spans
from rag.types import Article

SIZE, OVERLAP = 1000, 200

WORDS = (
    "the minister said on Thursday that talks with rebels would resume in Geneva after a pause of several "
    "weeks officials in Washington declined to comment U.S. forces Mr. Smith Dr. Jones 4.5 per cent $1.99 "
    "“quoted words” (in brackets) — dash"
).split()


def _article(body: str, aid: str = "a1") -> Article:
    return Article(id=aid, outlet="Outlet", title="Title", published="2024-01-01", url="", body=body)


def _random_body(rng: random.Random) -> str:
    """News-like text: paragraphs of sentences of varied length, sometimes one sentence far over SIZE."""
    paragraphs = []
    for _ in range(rng.randint(1, 8)):
        sentences = []
        for _ in range(rng.randint(1, 9)):
            n = rng.choice([3, 8, 15, 30, 60]) if rng.random() > 0.05 else rng.randint(200, 500)
            words = [rng.choice(WORDS) for _ in range(n)]
            words[0] = words[0].capitalize()
            sentences.append(" ".join(words) + rng.choice([".", ".", ".", "?", "!", ".”"]))
        paragraphs.append(" ".join(sentences))
    return rng.choice(["\n\n", "\n"]).join(paragraphs)


def _check_invariants(body: str, spans: list[tuple[int, int]]) -> None:
    assert spans, "non-empty text must give at least one chunk"
    for start, end in spans:
        assert 0 <= start < end <= len(body)
        assert end - start <= SIZE
        text = body[start:end]
        assert text == text.strip(), "a chunk starts and ends on text, not whitespace"
    for (s1, e1), (s2, e2) in zip(spans, spans[1:], strict=False):
        assert s2 > s1 and e2 > e1, f"chunk {(s2, e2)} adds nothing after {(s1, e1)}"
    # Every non-space character of the body is in some chunk: nothing is lost between chunks.
    covered = bytearray(len(body))
    for start, end in spans:
        covered[start:end] = b"\x01" * (end - start)
    lost = [i for i, ch in enumerate(body) if not ch.isspace() and not covered[i]]
    assert not lost, f"characters outside every chunk at {lost[:5]}"


@pytest.mark.parametrize("seed", range(150))
def test_random_texts_keep_every_invariant(seed: int) -> None:
    rng = random.Random(seed)
    body = _random_body(rng)
    article = _article(body)
    chunks = chunk_article(article, SIZE, OVERLAP)
    for c in chunks:
        assert body[c.start : c.end] == c.text
        assert c.article_id == article.id
    _check_invariants(body, [(c.start, c.end) for c in chunks])


@pytest.mark.parametrize("seed", range(40))
def test_boundaries_fall_on_sentence_boundaries(seed: int) -> None:
    """With no over-long sentence, every chunk starts where a sentence starts and ends where one ends."""
    rng = random.Random(1000 + seed)
    body = " ".join(
        " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 40))).capitalize() + "." for _ in range(60)
    )
    starts = {s for s, _ in sentence_spans(body)}
    ends = {e for _, e in sentence_spans(body)}
    for start, end in chunk_spans(body, SIZE, OVERLAP):
        assert start in starts and end in ends


def test_consecutive_chunks_overlap_by_whole_sentences() -> None:
    sentences = [f"Sentence number {i} reports that the council met again on the matter." for i in range(80)]
    body = " ".join(sentences)
    spans = chunk_spans(body, SIZE, OVERLAP)
    assert len(spans) > 3
    starts = {s for s, _ in sentence_spans(body)}
    for (_, e1), (s2, _) in zip(spans, spans[1:], strict=False):
        shared = e1 - s2
        assert 0 < shared <= OVERLAP, "the next chunk repeats the last sentence(s), up to the overlap"
        assert s2 in starts


def test_a_fact_straddling_a_boundary_is_whole_in_some_chunk() -> None:
    body = " ".join(f"Filler sentence {i} about the weather in the region today." for i in range(40))
    spans = chunk_spans(body, SIZE, OVERLAP)
    for sentence_start, sentence_end in sentence_spans(body):
        assert any(s <= sentence_start and sentence_end <= e for s, e in spans)


def test_long_sentence_is_cut_at_word_boundaries() -> None:
    words = [f"word{i}" for i in range(400)]  # one 3,000-character "sentence" with no full stop
    body = "Intro sentence here. " + " ".join(words) + ". Closing sentence here."
    spans = chunk_spans(body, SIZE, OVERLAP)
    _check_invariants(body, spans)
    token = re.compile(r"word\d+")
    for start, end in spans:
        # A cut never splits a word: each chunk's first and last tokens are whole words of the text.
        assert start == 0 or not body[start - 1].isalnum()
        assert end == len(body) or not body[end].isalnum()
        assert all(m.group() in words for m in token.finditer(body[start:end]))


def test_unbreakable_run_is_cut_at_size() -> None:
    body = "x" * 2500
    spans = chunk_spans(body, SIZE, OVERLAP)
    assert spans == [(0, 1000), (1000, 2000), (2000, 2500)]


def test_short_sentences_before_a_long_one_are_not_rechunked() -> None:
    """Regression: short sentences followed by a near-SIZE sentence once produced chunks that were subsets of
    the previous one, re-chunking the text one sentence at a time."""
    body = "Short one here. " * 12 + "word " * 180 + "end. Tail sentence here."
    spans = chunk_spans(body, SIZE, OVERLAP)
    _check_invariants(body, spans)
    assert len(spans) == 3


def test_repeated_passages_keep_their_own_spans() -> None:
    """Identical sentences are not confused: spans come from positions, not from searching the text."""
    para = "The same sentence appears twice in this article. " * 30
    body = (para + "\n\n" + para).strip()
    chunks = chunk_article(_article(body), SIZE, OVERLAP)
    assert len({(c.start, c.end) for c in chunks}) == len(chunks)
    assert all(body[c.start : c.end] == c.text for c in chunks)


@pytest.mark.parametrize("body", ["", "   ", "\n\n\n"])
def test_blank_text_has_no_chunks(body: str) -> None:
    assert chunk_spans(body, SIZE, OVERLAP) == []


def test_small_article_is_one_chunk() -> None:
    body = "Only one sentence. And a second one."
    assert chunk_spans(body, SIZE, OVERLAP) == [(0, len(body))]


def test_unicode_text_spans_are_character_offsets() -> None:
    body = "Evrim Ağacı reported it. “Çok önemli,” dedi. " * 40
    chunks = chunk_article(_article(body.strip()), 300, 60)
    assert all(c.text == body.strip()[c.start : c.end] and len(c.text) <= 300 for c in chunks)
