"""Which retrieved articles answer the question: the unit an answer cites.

A question about three outlets' reports needs one quote from each of the three articles, and nothing from the
fourth article on the same story that does not answer it. The sentence model says how well each sentence
answers; this model turns that into one probability per article, from signals of the article as a whole and
relative to the others retrieved for the same question (`FEATURES`):

    best_p, top2_p     its best sentence's probability; the mean of its best two
    rank, passages     1 / (1 + its best passage's rank); how many of the passages are from it (share)
    outlet_named/other the question names outlets, and this one is / is not among them
    cos_passage        the best cosine of its passages to the question
    lex_passage        the best share of the question's terms in one of its passages
    best_part_p        the best probability of one of its sentences for one part of the question
    parts_won          share of the question's parts for which it holds the best sentence of all articles
    date_match         the question names publication dates and this article's date is in one of them
    rel_p, order       best_p relative to the best article's; 1 / (1 + its place among the articles)
    best_of_outlet     no other article of its outlet has a better sentence
    same_outlet        how many retrieved articles share its outlet
    names              share of the names the question gives (outlets aside) found in its retrieved passages
    polar_second       the question asks yes or no and another article of its outlet has a better sentence:
                       "Did The Verge report X, while TechCrunch said Y?" is about one report of each outlet
                       (on the fit half, an outlet named once had one evidence article in 91% of comparison
                       questions against 64% of who/which ones), so a second article of it more often
                       says something else

Fitted as the "articles" entry of `selection_weights.json` (label: the article is one of the query's gold
evidence articles), see `rag.answer.weights`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rag.answer.evidence import FEATURES as SENTENCE_FEATURES
from rag.answer.evidence import Candidate, Question
from rag.answer.weights import Logistic
from rag.filters import in_date_range
from rag.text.asks import asks_yes_no

FEATURES = (
    "best_p",
    "top2_p",
    "rank",
    "passages",
    "outlet_named",
    "outlet_other",
    "cos_passage",
    "lex_passage",
    "best_part_p",
    "parts_won",
    "date_match",
    "rel_p",
    "order",
    "best_of_outlet",
    "same_outlet",
    "names",
    "polar_second",
)


@dataclass(slots=True, eq=False)
class ArticleEvidence:
    """One retrieved article: its candidate sentences (best first), signals and probability of answering."""

    article_id: str
    outlet: str
    sentences: list[Candidate]
    x: np.ndarray
    parts_won: list[int]  # the parts of the question for which this article holds the best sentence
    p: float = 0.0


def gather(question: Question, cands: Sequence[Candidate], n_hits: int) -> list[ArticleEvidence]:
    """The articles behind `cands` with their signals (probabilities not yet set), in order of best sentence."""
    by: dict[str, list[Candidate]] = {}
    for c in sorted(cands, key=lambda c: -c.p):
        by.setdefault(c.article_id, []).append(c)
    if not by:
        return []
    won: dict[str, list[int]] = {}
    if len(question.parts) > 1:
        for j in range(len(question.parts)):
            best = max(cands, key=lambda c: c.p_part[j])
            won.setdefault(best.article_id, []).append(j)
    best_p = {a: ks[0].p for a, ks in by.items()}
    top = max(best_p.values())
    order = {a: r for r, a in enumerate(sorted(best_p, key=lambda a: -best_p[a]))}
    outlets = {a: ks[0].outlet for a, ks in by.items()}
    f = SENTENCE_FEATURES.index
    polar = asks_yes_no(question.text)
    out = []
    for a, ks in by.items():
        h = ks[0].hit
        ps = [k.p for k in ks]
        same = [b for b in by if outlets[b] == outlets[a]]
        dated = any(in_date_range(h.article.published, s, u) for s, u in question.ranges)
        text = " ".join({id(k.hit): k.hit.chunk.text for k in ks}.values()).casefold()
        named = sum(n.casefold() in text for n in question.names) / len(question.names) if question.names else 1.0
        x = np.asarray(
            [
                ps[0],
                float(np.mean(ps[:2])),
                1.0 / (1 + min(k.rank for k in ks)),
                len({id(k.hit) for k in ks}) / max(1, n_hits),
                ks[0].x[f("outlet_named")],
                ks[0].x[f("outlet_other")],
                max(k.x[f("cos_passage")] for k in ks),
                max(k.x[f("lex_passage")] for k in ks),
                max((float(k.p_part.max()) for k in ks if len(k.p_part)), default=ps[0]),
                len(won.get(a, [])) / len(question.parts) if len(question.parts) > 1 else 1.0,
                float(dated) if question.ranges else 0.0,
                ps[0] / top if top > 0 else 0.0,
                1.0 / (1 + order[a]),
                float(all(best_p[b] <= ps[0] for b in same)),
                float(len(same)),
                named,
                float(polar and any(best_p[b] > ps[0] for b in same)),
            ]
        )
        out.append(ArticleEvidence(a, outlets[a], ks, x, won.get(a, [])))
    return out


def score(arts: list[ArticleEvidence], model: Logistic) -> list[ArticleEvidence]:
    """Set each article's probability of answering; best first."""
    if arts:
        for a, p in zip(arts, model.probabilities(np.stack([a.x for a in arts])), strict=True):
            a.p = float(p)
    return sorted(arts, key=lambda a: -a.p)
