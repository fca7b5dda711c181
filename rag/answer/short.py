"""The short answer to a "who / which / what <noun>" question: a name the retrieved passages agree on.

Quoting the evidence is not enough when the question asks for a name: on MultiHop-RAG dev the gold evidence
sentences contain the asked name only 66% of the time (the fact says "the company", the name is a sentence
away). The passages do name it, and several articles name the same one. So:

    passages ──names (rag.text)──▶ each name not in the question and not an outlet
             ──signals: how many articles and outlets name it, how high their passages rank, whether the
               quotes hold it, the best sentence probability holding it──▶ fitted logistic model
             ──best name, if its probability reaches the fitted threshold──▶ "Sam Altman [1][3]"

The model is the "names" entry of `selection_weights.json` (`rag.answer.weights`). The name is shown
verbatim, as written in a passage, followed by the markers of the quotes that hold it (or with the best
sentence that holds it added as a quote), so it is checkable like any quote.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from rag.answer.evidence import Candidate
from rag.answer.weights import Logistic
from rag.text.asks import asks_for_a_name
from rag.text.names import names_in
from rag.text.outlets import without_outlets
from rag.text.tokens import word_tokens

NAME_FEATURES = ("articles", "outlets", "rank_sum", "in_quotes", "best_p", "words", "in_title")


@dataclass(slots=True)
class NameCandidate:
    """A name the passages use, with its signals (`NAME_FEATURES`)."""

    text: str
    x: np.ndarray
    holders: list[Candidate] = field(default_factory=list)  # sentences holding it, best first
    p: float = 0.0


@dataclass(frozen=True, slots=True)
class ShortAnswer:
    text: str
    groups: list[list[Candidate]]  # the quotes that hold it (one added if none of the chosen does)


def _key_words(text: str) -> frozenset[str]:
    """Lower-cased words of 3+ letters, possessives stripped ("Trump's" → "trump")."""
    return frozenset(t.low for t in word_tokens(text) if len(t.low) >= 3)


@lru_cache(maxsize=4096)
def _passage_names(text: str, outlets: tuple[str, ...]) -> tuple[str, ...]:
    """The names in a passage, outlet names left out (cached: the same passages return for related questions)."""
    return tuple(without_outlets(names_in(word_tokens(text), question=False), list(outlets)))


def _merge_forms(found: dict[str, list[int]]) -> dict[str, set[str]]:
    """One entry per person or thing: the forms of a name count for its shortest full form, in place; returns
    the forms merged into each name that took some.

    A surname alone ("Altman") counts for the full name the passages also use ("Sam Altman"), and so does a
    longer form that ends with that full name ("CEO Sam Altman", "OpenAI CEO Sam Altman"): news prose puts
    roles before names, and without this the name the passages agree on is split over several forms. A single
    word that opens exactly one longer name counts for it too ("Alameda" for "Alameda Research", "Caesars" for
    "Caesars Sportsbook": a company's short name), but not when it opens two ("Manchester United", "Manchester
    City").
    """
    full = sorted((n for n in found if len(n.split()) > 1), key=lambda n: (len(n.split()), n))
    forms: dict[str, set[str]] = {}
    for name in sorted(found, key=lambda n: (-len(n.split()), n)):
        words = name.split()
        target = next(
            (
                f
                for f in full
                if f != name and f in found and len(f.split()) < len(words) and words[-len(f.split()) :] == f.split()
            ),
            None,
        )
        if target is None and len(words) == 1:
            target = next((f for f in full if f in found and f.split()[-1] == name), None)
        if target is None and len(words) == 1:
            opened = {f for f in full if f in found and f.split()[0] == name}
            target = opened.pop() if len(opened) == 1 else None
        if target is not None:
            found[target] = list(dict.fromkeys(found[target] + found.pop(name)))
            forms.setdefault(target, set()).update({name, *forms.pop(name, set())})
    return forms


def name_candidates(
    question: str, groups: Sequence[Sequence[Candidate]], cands: Sequence[Candidate], outlets: Iterable[str]
) -> list[NameCandidate]:
    """Every name in the passages behind `cands` that the question does not already contain, with its signals."""
    outlet_names = tuple(outlets)
    asked = _key_words(question)
    hits = {id(c.hit): c.hit for c in cands}
    ranks = {id(c.hit): c.rank for c in cands}
    found: dict[str, list[int]] = {}  # name -> keys of the passages naming it
    for key, hit in hits.items():
        for name in _passage_names(hit.chunk.text, outlet_names):
            if name.isupper() and len(name) <= 3 or _key_words(name) & asked or not _key_words(name):
                continue  # "US", "AI": too generic; a name the question holds is not its answer
            found.setdefault(name, [])
            if key not in found[name]:
                found[name].append(key)
    forms = _merge_forms(found)
    n_articles = max(1, len({h.article.id for h in hits.values()}))
    n_outlets = max(1, len({h.article.outlet for h in hits.values()}))
    titles = {h.article.title for h in hits.values()}
    out = []
    for name, keys in found.items():
        said = {name, *forms.get(name, ())}
        holders = [c for c in cands if any(f in c.text for f in said) or name.split()[-1] in c.text.split()]
        in_quotes = sum(any(name in c.text for c in g) for g in groups) / max(1, len(groups))
        x = np.asarray(
            [
                len({hits[k].article.id for k in keys}) / n_articles,
                len({hits[k].article.outlet for k in keys}) / n_outlets,
                sum(1.0 / (1 + ranks[k]) for k in keys),
                in_quotes,
                max((c.p for c in holders), default=0.0),
                min(len(name.split()), 4),
                float(any(name in t for t in titles)),
            ]
        )
        out.append(NameCandidate(name, x, sorted(holders, key=lambda c: -c.p)))
    return out


def short_answer(
    question: str,
    groups: Sequence[list[Candidate]],
    cands: Sequence[Candidate],
    outlets: Iterable[str],
    model: Logistic,
    threshold: float,
) -> ShortAnswer | None:
    """The name that answers a who/which question, with the quotes holding it; None when none is clear."""
    if not asks_for_a_name(question):
        return None
    names = name_candidates(question, groups, cands, outlets)
    if not names:
        return None
    p = model.probabilities(np.stack([n.x for n in names]))
    best = int(np.argmax(p))
    if p[best] < threshold:
        return None
    name = names[best]
    holding = [g for g in groups if any(name.text in c.text for c in g)]
    if not holding:
        verbatim = [c for c in name.holders if name.text in c.text]
        if not verbatim:
            return None
        holding = [[verbatim[0]]]
    return ShortAnswer(name.text, holding)
