"""Page furniture: a sentence repeated across articles is never quoted; the index keeps the count."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rag.answer import evidence, support
from rag.boilerplate import MIN_ARTICLES, REPEATED_FILE, Repeated, repeated_keys, sentence_key
from rag.config import Settings
from rag.types import Answer, Article, ArticleRef, Hit, SearchQuery

from .helpers import memory_retriever

PROMO = "Sign up to our free weekly newsletter for the best of the week's stories."


def _article(n: int, news: str) -> Article:
    return Article(f"https://paper.example/{n}", "Paper", f"Story {n}", f"2026-03-0{n}", "", f"{news} {PROMO}")


NEWS = [
    "The council approved the harbour budget on Tuesday after a long debate.",
    "Flooding closed the coastal road for three days last week, officials said.",
    "The museum reopened its east wing to visitors after a two-year restoration.",
]


def test_a_sentence_in_three_articles_is_furniture_and_one_in_two_is_not() -> None:
    bodies = [f"{news} {PROMO}" for news in NEWS]
    keys = repeated_keys(bodies)
    assert keys.tolist() == [sentence_key(PROMO)] and MIN_ARTICLES == 3
    assert sentence_key("  SIGN up to our free weekly newsletter for the best of the week's stories.") in keys
    assert repeated_keys(bodies[:2]).size == 0  # the same wire story in two outlets is still news
    assert repeated_keys([f"{PROMO} {PROMO} {PROMO}"]).size == 0  # once per article


def test_the_keys_are_a_plain_int64_file_and_a_wrong_one_is_refused(tmp_path: Path) -> None:
    rep = Repeated.of([f"{news} {PROMO}" for news in NEWS])
    assert rep.save(tmp_path) == REPEATED_FILE
    back = Repeated.load(tmp_path)
    assert PROMO in back and NEWS[0] not in back and len(back) == 1
    np.save(tmp_path / REPEATED_FILE, np.zeros(3, dtype=np.float32))
    with pytest.raises(ValueError, match="not int64 keys"):
        Repeated.load(tmp_path)


def test_the_answerers_never_quote_furniture_nor_grow_a_quote_into_it() -> None:
    arts = [_article(n + 1, news) for n, news in enumerate(NEWS)]
    corpus = memory_retriever(arts)
    corpus.backend.index.repeated = Repeated.of(a.body for a in arts)
    assert corpus.repeated(PROMO) and not corpus.repeated(NEWS[0])
    refs = {a.id: ArticleRef(a.id, a.outlet, a.title, a.published, a.url) for a in arts}
    hits = [Hit(c, refs[c.article_id], score=1.0, dense=0.5) for c in corpus.index.chunks.values()]
    bodies = {a.id: a.body for a in arts}
    texts = [c.text for c in evidence.candidates(hits, bodies, corpus.repeated)]
    assert NEWS[0] in texts and PROMO not in texts
    assert PROMO in [c.text for c in evidence.candidates(hits, bodies)]  # without the count it would be
    question = "What did the newsletter say about the week's stories?"
    base = Answer(question, "", [], True)
    got = support.answer_from(base, question, SearchQuery(question, question), hits, corpus, Settings())
    assert not got.refused and all(PROMO not in c.quote for c in got.citations)


def test_a_quote_never_spans_the_furniture_left_out_between_two_sentences() -> None:
    news = "The council approved the harbour plan on Tuesday after a long debate."
    rest = "But the mayor said she would not pay for a harbour nobody had asked for."
    arts = [_article(1, f"{news} {PROMO} {rest}"), *(_article(n + 2, t) for n, t in enumerate(NEWS[1:]))]
    corpus = memory_retriever(arts)
    corpus.backend.index.repeated = Repeated.of(a.body for a in arts)
    refs = {a.id: ArticleRef(a.id, a.outlet, a.title, a.published, a.url) for a in arts}
    hits = [Hit(c, refs[c.article_id], score=1.0, dense=0.5) for c in corpus.index.chunks.values()]
    bodies = {a.id: a.body for a in arts}
    walled = support._candidates(hits, bodies, corpus.repeated)
    first = next(c for c in walled if c.text == news)
    assert support._following(first, walled) is None and support._completed([first], walled) == [first]
    # Without the count the sentence after it is the promo, and a "But…" could never complete it through that.
    open_ = support._candidates(hits, bodies)
    assert support._following(next(c for c in open_ if c.text == news), open_).text == PROMO
