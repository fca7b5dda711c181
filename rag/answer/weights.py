"""The extractive answerer's fitted models, read from one plain JSON file beside this module.

`selection_weights.json` holds three logistic models and the thresholds that use them, all fitted by
`bench/fit_answer.py` on the even lines of the MultiHop-RAG dev split (its "fit" entry records the data and
the scores on the odd lines, which the fit never saw):
    sentences   p(a sentence is a gold evidence sentence)            rag.answer.evidence
    articles    p(a retrieved article is one of the evidence articles) rag.answer.articles
    names       p(a name in the passages is the asked-for answer)      rag.answer.short
A model whose feature list differs from the code's is refused, not half-used: the code and the file move
together.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from rag.text.tokens import tokenize

WEIGHTS_FILE = Path(__file__).with_name("selection_weights.json")


class WeightsProblem(ValueError):
    """The weights file is missing, unreadable, or not fitted for the features this code computes."""


@dataclass(frozen=True, slots=True)
class Logistic:
    """A logistic model over named features: standardised inputs, coefficients, intercept."""

    features: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float

    def logits(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.mean) / self.scale) @ self.coef + self.intercept

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-self.logits(x)))

    @classmethod
    def neutral(cls, features: tuple[str, ...]) -> Logistic:
        """Every input ignored (p = 0.5): the starting point of a fit."""
        n = len(features)
        return cls(features, np.zeros(n), np.ones(n), np.zeros(n), 0.0)

    def to_json(self) -> dict[str, Any]:
        return {"features": list(self.features), "mean": self.mean.tolist(), "scale": self.scale.tolist(),
                "coef": self.coef.tolist(), "intercept": self.intercept}  # fmt: skip


def logistic(block: dict[str, Any], features: tuple[str, ...], where: str) -> Logistic:
    """One model from its JSON block, checked against the feature names the code computes."""
    names = tuple(block["features"])
    if names != features:
        raise WeightsProblem(f"{where} is fitted for features {names}, this code computes {features}")
    arrays = [np.asarray(block[k], dtype=np.float64) for k in ("mean", "scale", "coef")]
    if any(a.shape != (len(features),) or not np.isfinite(a).all() for a in arrays):
        raise WeightsProblem(f"{where}: mean, scale and coef must be {len(features)} finite numbers each")
    mean, scale, coef = arrays
    return Logistic(features, mean, scale, coef, float(block["intercept"]))


@dataclass(frozen=True, slots=True)
class Weights:
    sentences: Logistic
    articles: Logistic
    names: Logistic
    thresholds: dict[str, float]
    #: The fewest BM25 terms of a question the models were fitted on (the fit's "domain"): outside that range
    #: they extrapolate, and the `auto` selection does not use them (see `in_domain`).
    min_question_terms: int = 0

    def in_domain(self, question: str) -> bool:
        """Whether `question` is as long as the questions the models were fitted on. MultiHop-RAG's questions
        have 11 to 48 terms; a conversation's ("How big is its screen?") 2 to 9, on which the fitted selection
        passed fewer dialogue turns than the support selection (docs/evaluation.md "Answers")."""
        return len(set(tokenize([question])[0])) >= self.min_question_terms


def read_weights(path: Path = WEIGHTS_FILE) -> Weights:
    """All three models and the thresholds in `path`; WeightsProblem says what is wrong with the file."""
    from rag.answer import articles, evidence, short  # the feature lists live with the code computing them

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Weights(
            logistic(data["sentences"], evidence.FEATURES, f"{path} (sentences)"),
            logistic(data["articles"], articles.FEATURES, f"{path} (articles)"),
            logistic(data["names"], short.NAME_FEATURES, f"{path} (names)"),
            {k: float(v) for k, v in data["thresholds"].items()},
            int(data.get("domain", {}).get("min_question_terms", 0)),
        )
    except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, WeightsProblem):
            raise
        raise WeightsProblem(f"cannot read the answer model {path}: {exc}") from exc


@lru_cache(maxsize=1)
def default_weights() -> Weights:
    return read_weights()
