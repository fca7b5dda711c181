"""Evidence sentences: every sentence of the retrieved passages, described by the signals that tell whether it
answers the question, and scored by a logistic model fitted on data (not by hand-set weights).

    Hits ──sentences──▶ Candidates ──lexical signals──▶ cheap score (the model, dense signals at their mean)
         ──top few──▶ embedded with the question and its parts in one model run ──▶ dense signals
         ──logistic model (selection_weights.json)──▶ p(sentence is evidence), overall and for each part

The signals (`FEATURES`), each for one sentence of one passage:
    lex_q, lex_part      IDF-weighted share of the question's (of its best-matched part's) terms in the sentence
    lex_ctx              the same with the terms of the sentences before and after it at half weight: news prose
                         names the speaker in one sentence ("Miller said") and quotes him in the next ("he…")
    lex_passage          the same share over the whole passage: is the passage about the asked subject?
    cos_q, cos_part      cosine of the sentence's vector to the question's (to its best-matched part's); the
                         sentence vectors are stored at index time, pooled inside their chunk
                         (`rag.sentence_vectors`), so every sentence has them at no cost per answer
    cos_passage          cosine of the passage to the question (the retriever's)
    rank                 1 / (1 + the passage's rank among the hits)
    outlet_named         the question names outlets and this sentence's outlet is one of them
    outlet_other         the question names outlets and this sentence's outlet is not one of them
    lead                 the sentence opens its article (a news lead states the story)

The model is the "sentences" entry of `rag/answer/selection_weights.json` (see `rag.answer.weights`), fitted
on MultiHop-RAG dev with label "the sentence is one of the query's gold facts".
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import numpy as np

from rag.answer.weights import Logistic
from rag.chunking import chunk_sentences, next_sentence, previous_sentence
from rag.sentence_vectors import SentenceVectors
from rag.text.outlets import OutletMatcher
from rag.text.sentences import sentence_spans
from rag.text.tokens import TOPICLESS, how_degree, tokenize, word_tokens
from rag.types import Hit

FEATURES = (
    "lex_q",
    "lex_ctx",
    "lex_part",
    "lex_passage",
    "cos_q",
    "cos_part",
    "cos_passage",
    "rank",
    "outlet_named",
    "outlet_other",
    "lead",
)
#: In a follow-up, a term only the carried words of earlier turns give (`SearchQuery.text` beyond the user's
#: question) weighs this share of its IDF in a sentence's own coverage: the carried words find the passage (they
#: count fully in the passage coverage and the search), the question's own words pick its sentence ("What was
#: that program called?" is the "program" sentence of the Activision passage, not the Activision one again).
#: Measured with the support selection on the tune half of the follow-up dialogues (docs/evaluation.md),
#: follow-ups passed of 40: 0.2 35, 0.3-0.4 34, 0.5-0.7 33, 0 (own words only) 30, 1 (weighed fully) 28.
CARRIED_SHARE = 0.3
DENSE = ("cos_q", "cos_part")  # the signals that need the sentence embedded
# A sentence starting within this many characters of the article's start is its lead (headline and first
# sentence: a news lead is ~25-40 words, ~150-250 characters).
_LEAD_CHARS = 250


@dataclass(slots=True, eq=False)
class Candidate:
    """One sentence of one retrieved passage, with its signals and the model's scores (compared by identity)."""

    hit: Hit
    rank: int  # rank of its passage among the hits
    start: int  # span in the article body
    end: int
    text: str
    x: np.ndarray = field(default_factory=lambda: np.zeros(len(FEATURES)))
    part_lex: np.ndarray = field(default_factory=lambda: np.zeros(0))  # lex share of each part's terms
    part_cos: np.ndarray = field(default_factory=lambda: np.zeros(0))  # cosine to each part
    vector: np.ndarray | None = None  # the sentence's embedding, when it was embedded
    p: float = 0.0  # probability that the sentence is evidence for the whole question
    p_part: np.ndarray = field(default_factory=lambda: np.zeros(0))  # … for each part alone
    after: Candidate | None = None  # the article's next sentence, for the last of a passage (`link_neighbours`)
    before: Candidate | None = None  # the article's previous sentence, for the first of a passage
    walled: bool = False  # page furniture was left out right before it in its passage (`adjacent`)

    @property
    def outlet(self) -> str:
        return self.hit.article.outlet

    @property
    def article_id(self) -> str:
        return self.hit.article.id


def carried_terms(question: str, text: str, outlets: Sequence[str]) -> frozenset[str]:
    """The terms of `text` (a follow-up's search text) that the user's `question` does not give itself: the
    ones to weigh by `CARRIED_SHARE` when a sentence is picked. Empty when the question has no topic word of its
    own ("What did Dawn say?": the outlets it names left out), which is then picked by what it carried."""
    asked = set(tokenize([question])[0])
    for mention in OutletMatcher.of(outlets).find(question):
        question = question.replace(mention.text, " ")
    if not tokenize([question])[0]:
        return frozenset()
    return frozenset(set(tokenize([text])[0]) - asked)


def unasked_terms(question: str, outlets: Sequence[str]) -> frozenset[str]:
    """Terms of `question` that no sentence needs to hold to answer it: the outlets it names (every sentence of
    Dawn's is Dawn's), the verbs that ask for a report (`TOPICLESS`: "quote", "saying") and the "old" of "How
    old…" (`how_degree`)."""
    named = " ".join(m.text for m in OutletMatcher.of(outlets).find(question))
    toks = word_tokens(question)
    form = " ".join(toks[i].text for i in how_degree(toks))
    return frozenset(tokenize([f"{named} {form}"])[0]) | TOPICLESS


def picking(
    weights: dict[str, float], carried: AbstractSet[str], unasked: AbstractSet[str] = frozenset()
) -> dict[str, float]:
    """`weights` with the carried terms (`carried_terms`) at `CARRIED_SHARE` and the `unasked` ones left out,
    unless nothing else is left."""
    kept = {t: w * (CARRIED_SHARE if t in carried else 1.0) for t, w in weights.items() if t not in unasked}
    return kept or picking(weights, carried)


def cheap_logits(model: Logistic, x: np.ndarray) -> np.ndarray:
    """Logits with the dense signals at their training mean: the ranking before anything is embedded."""
    x = x.copy()
    for name in DENSE:
        x[..., FEATURES.index(name)] = model.mean[FEATURES.index(name)]
    return model.logits(x)


def coverage(weights: dict[str, float], terms: AbstractSet[str], near: AbstractSet[str] = frozenset()) -> float:
    """IDF-weighted share of the weighted terms found in `terms`; those only in `near` count half."""
    total = sum(weights.values())
    got = sum(w if t in terms else (0.5 * w if t in near else 0.0) for t, w in weights.items())
    return got / total if total else 0.0


#: Whether a sentence is page furniture, never to be quoted (`CorpusStats.repeated`, `rag.boilerplate`).
Furniture = Callable[[str], bool]


def no_furniture(sentence: str) -> bool:
    """No sentence is furniture (an index that keeps no count, a test)."""
    return False


def hit_sentences(
    hits: Sequence[Hit], furniture: Furniture = no_furniture
) -> Iterator[tuple[int, Hit, int, int, bool]]:
    """(rank, hit, start, end, walled) of every quotable sentence of the hits, once per article span, in passage
    order (overlapping chunks repeat sentences: the best-ranked passage keeps them); page `furniture` left out,
    and the sentence after it `walled` off from the one before (`adjacent`)."""
    seen: set[tuple[str, int]] = set()
    for rank, hit in enumerate(hits):
        c = hit.chunk
        wall = False
        for s, e in chunk_sentences(c):
            if (c.article_id, s) not in seen:
                seen.add((c.article_id, s))
                if furniture(c.text[s - c.start : e - c.start]):
                    wall = True
                    continue
                yield rank, hit, s, e, wall
                wall = False


def adjacent(a: Linked, b: Linked) -> bool:
    """Whether `b`, the sentence after `a` among the candidates, may extend a quote ending with `a`: not when
    page furniture left out lies between them in their passage (`walled`), which a quote must not span. Across
    passages `link_neighbours` links only the very next sentence."""
    return b.hit is not a.hit or not b.walled


def candidates(hits: Sequence[Hit], bodies: dict[str, str], furniture: Furniture = no_furniture) -> list[Candidate]:
    """Every sentence of the hits (once per article span, page `furniture` left out), in passage order, each
    passage's first and last one linked to the article's sentences around the passage (`link_neighbours`)."""
    cands = [
        Candidate(hit, rank, s, e, bodies[hit.chunk.article_id][s:e], walled=walled)
        for rank, hit, s, e, walled in hit_sentences(hits, furniture)
    ]
    link_neighbours(cands, bodies, lambda c, s, e, text: Candidate(c.hit, c.rank, s, e, text), furniture)
    return cands


class Linked(Protocol):
    """A candidate sentence that can point at the article's sentences before and after it (both answerers'
    candidates are)."""

    hit: Hit
    start: int
    end: int
    after: Any
    before: Any
    walled: bool


C = TypeVar("C", bound=Linked)


def link_neighbours(
    cands: Sequence[C],
    bodies: dict[str, str],
    make: Callable[[C, int, int, str], C],
    furniture: Furniture = no_furniture,
) -> None:
    """Set `after` on the last candidate of each passage and `before` on the first: the candidate of the
    article's next (previous) sentence (`chunking.next_sentence`, `previous_sentence`), one of `cands` when
    another retrieved passage holds it, else a new one made by `make(neighbour, start, end, text)` and not added
    to `cands`. Such a sentence is never chosen on its own (it was not retrieved, nor scored); it only completes
    a quote the way the passage's own neighbour would: the rest of a quotation, a "But…"
    (`extractive.completes`), the sentence naming who "It…" is (`extractive.opens_with_reference`). A
    neighbour that is page `furniture` is no neighbour."""
    at = {(c.hit.article.id, c.start): c for c in cands}
    first: dict[int, C] = {}
    last: dict[int, C] = {}
    for c in cands:  # in passage order: the first and last seen of each passage are its first and last
        first.setdefault(id(c.hit), c)
        last[id(c.hit)] = c
    spans = {a: sentence_spans(bodies[a]) for a in {c.hit.article.id for c in cands}}

    def linked(c: C, span: tuple[int, int] | None) -> C | None:
        if span is None:
            return None
        body = bodies[c.hit.article.id]
        if furniture(body[span[0] : span[1]]):
            return None
        return at.get((c.hit.article.id, span[0])) or make(c, span[0], span[1], body[span[0] : span[1]])

    for c in last.values():
        c.after = linked(c, next_sentence(bodies[c.hit.article.id], c.end, spans[c.hit.article.id]))
    for c in first.values():
        c.before = linked(c, previous_sentence(bodies[c.hit.article.id], c.start, spans[c.hit.article.id]))


@dataclass(slots=True)
class Question:
    """What the signals compare a sentence with: the question, its parts, the outlets it names."""

    text: str
    parts: list[str]  # the question's parts (see rag.reading); [text] when it has one
    outlets: frozenset[str] = frozenset()
    ranges: tuple[tuple[str | None, str | None], ...] = ()  # publication ranges the question names
    names: tuple[str, ...] = ()  # names the question gives (outlets left out): "Odile Ferrant"
    carried: frozenset[str] = frozenset()  # terms carried from earlier turns (`carried_terms`)


def describe(
    question: Question,
    cands: list[Candidate],
    idf: Callable[[str], float],
    encode: Callable[[list[str]], np.ndarray] | None,
    model: Logistic,
    embed_top: int,
    stored: SentenceVectors | None = None,
) -> None:
    """Fill each candidate's signals and probabilities.

    A sentence's dense signals come from its vector stored at index time (`stored`, pooled inside its chunk);
    a sentence without one (an index built before they were stored) is embedded alone, but only the
    `embed_top` best by the cheap score.
    `encode` embeds a list of texts in one call (unit rows); None (no model at hand) leaves the dense signals
    at their training mean, which is what the cheap score assumes anyway.
    """
    if not cands:
        return
    q_terms = set(tokenize([question.text])[0])
    part_terms = [set(t) for t in tokenize(question.parts)]
    q_w = {t: idf(t) for t in q_terms}
    pick_w = picking(q_w, question.carried)
    part_w = [{t: idf(t) for t in terms} for terms in part_terms]
    sent_terms = [set(t) for t in tokenize([c.text for c in cands])]
    passage_cov: dict[int, float] = {}
    i = {name: FEATURES.index(name) for name in FEATURES}
    for n, (c, terms) in enumerate(zip(cands, sent_terms, strict=True)):
        near: set[str] = set()
        for j in (n - 1, n + 1):  # neighbours in the same passage (candidates are in passage order)
            if 0 <= j < len(cands) and cands[j].hit is c.hit:
                near |= sent_terms[j]
        key = id(c.hit)
        if key not in passage_cov:
            passage_cov[key] = coverage(q_w, set(tokenize([c.hit.chunk.text])[0]))
        x = np.zeros(len(FEATURES))
        c.part_lex = np.asarray([coverage(w, terms) for w in part_w])
        x[i["lex_q"]] = coverage(pick_w, terms)
        x[i["lex_ctx"]] = coverage(pick_w, terms, near)
        x[i["lex_part"]] = c.part_lex.max(initial=0.0)
        x[i["lex_passage"]] = passage_cov[key]
        x[i["cos_passage"]] = max(c.hit.dense or 0.0, 0.0)
        x[i["rank"]] = 1.0 / (1 + c.rank)
        x[i["outlet_named"]] = float(bool(question.outlets) and c.outlet in question.outlets)
        x[i["outlet_other"]] = float(bool(question.outlets) and c.outlet not in question.outlets)
        x[i["lead"]] = float(c.start < _LEAD_CHARS)
        for name in DENSE:
            x[i[name]] = model.mean[i[name]]
        c.x = x
        c.part_cos = np.full(len(question.parts), model.mean[i["cos_part"]])
    if encode is not None:
        _dense(question, cands, encode, model, embed_top, stored)
    score(cands, model)


def _dense(
    question: Question,
    cands: list[Candidate],
    encode: Callable[[list[str]], np.ndarray],
    model: Logistic,
    embed_top: int,
    stored: SentenceVectors | None,
) -> None:
    """The cosines of each sentence to the question and its parts (see `describe`)."""
    got: dict[int, np.ndarray] = {}
    if stored is not None:
        for j, c in enumerate(cands):
            if (v := stored.lookup(c.hit.chunk.id, c.start)) is not None:
                got[j] = v
    missing = [j for j in range(len(cands)) if j not in got]
    live: list[int] = []
    if missing and embed_top > 0:
        cheap = cheap_logits(model, np.stack([cands[j].x for j in missing]))
        live = [missing[int(j)] for j in np.argsort(-cheap, kind="stable")[:embed_top]]
    if not got and not live:
        return
    vecs = encode([question.text, *question.parts, *(cands[j].text for j in live)])
    qv, pv = vecs[0], vecs[1 : 1 + len(question.parts)]
    got.update(zip(live, vecs[1 + len(question.parts) :], strict=True))
    i_q, i_p = FEATURES.index("cos_q"), FEATURES.index("cos_part")
    for j, v in got.items():
        c = cands[j]
        c.vector = v
        c.x[i_q] = float(v @ qv)
        c.part_cos = pv @ v
        c.x[i_p] = float(c.part_cos.max(initial=0.0))


def score(cands: list[Candidate], model: Logistic) -> None:
    """The model's probability for each candidate: for the whole question, and for each part on its own."""
    if not cands:
        return
    X = np.stack([c.x for c in cands])
    p = model.probabilities(X)
    lp, cp = FEATURES.index("lex_part"), FEATURES.index("cos_part")
    for c, pc, row in zip(cands, p, X, strict=True):
        c.p = float(pc)
        per_part = np.repeat(row[None, :], len(c.part_lex), axis=0)
        per_part[:, lp] = c.part_lex
        per_part[:, cp] = c.part_cos
        c.p_part = model.probabilities(per_part) if len(c.part_lex) else np.zeros(0)
