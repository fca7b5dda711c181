"""Citation recall and precision as the ALCE benchmark defines them (Gao et al. 2023, "Enabling Large Language
Models to Generate Text with Citations", its `eval.py`), with the entailment judge left pluggable.

Per answer, over its sentences (markers removed before judging):
- citation recall: share of sentences whose cited passages, joined, entail the sentence (a sentence with no
  citation, or citing a passage that was not given, scores 0);
- citation precision: share of citations that are relevant. A citation of a sentence with several citations
  is irrelevant when its passage alone does not entail the sentence and the other citations still do; every
  citation of a sentence its citations do not entail counts as not relevant.
Both are averaged over answers. ALCE's judge is an NLI model (TRUE, T5-11B), which cannot be installed here;
`proxy_judge` uses this project's support proxy and `lexical_judge` an independent word-containment test.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from rag.answer.verify import Passage, SupportScorer, names_and_numbers
from rag.embedding import Embedder
from rag.text.sentences import split_sentences
from rag.text.tokens import tokenize

#: judge(sentence, passages cited together) → whether they entail it
Judge = Callable[[str, Sequence[Passage]], bool]

_MARK = re.compile(r"\[(\d+)\]")
_LEADING_MARKS = re.compile(r"\s*(?:\[\d+\]\s*)+")


@dataclass(frozen=True, slots=True)
class CitationScore:
    recall: float
    precision: float
    sentences: int
    citations: int


def score_answer(text: str, passages: Mapping[int, Passage], judge: Judge) -> CitationScore:
    """ALCE citation recall and precision of one answer `text`, whose `[n]` name `passages[n]`."""
    # Markers written after the period ("… power. [1] Next sentence") belong to the sentence before them: a
    # sentence of nothing but markers is merged into it, and markers that open a sentence are moved to it.
    merged: list[str] = []
    for s in split_sentences(text):
        lead = _LEADING_MARKS.match(s)
        if lead and merged:
            merged[-1] += " " + lead.group(0).strip()
            s = s[lead.end() :]
        if not _MARK.sub("", s).strip(" .,;:"):
            if merged and s.strip():
                merged[-1] += " " + s
        else:
            merged.append(s)
    entail = entail_prec = total = 0
    for sent in merged:
        refs = list(dict.fromkeys(int(n) for n in _MARK.findall(sent)))
        target = re.sub(r"\s+([.,;:!?])", r"\1", _MARK.sub("", sent)).strip()
        total += len(refs)
        if not refs or any(n not in passages for n in refs):
            continue
        joint = judge(target, [passages[n] for n in refs])
        entail += joint
        if joint and len(refs) > 1:
            for n in refs:
                alone = judge(target, [passages[n]])
                others = [passages[m] for m in refs if m != n]
                entail_prec += alone or not judge(target, others)
        else:
            entail_prec += joint * len(refs)
    return CitationScore(
        recall=entail / len(merged) if merged else 0.0,
        precision=entail_prec / total if total else 0.0,
        sentences=len(merged),
        citations=total,
    )


def proxy_judge(embedder: Embedder, threshold: float) -> Judge:
    """Entailment by the support proxy of rag/answer/verify.py (the verifier's own test, so it favours
    answers that verifier has already filtered)."""

    def judge(sentence: str, passages: Sequence[Passage]) -> bool:
        numbered = [Passage(i, p.hit, p.body) for i, p in enumerate(passages, start=1)]
        scorer = SupportScorer(embedder, numbered)
        sims = scorer.similarities([sentence])[0]
        return scorer.score(sentence, sims, [p.n for p in numbered])[0] >= threshold

    return judge


#: Share of a sentence's content words (stemmed, stop words removed) the passages must contain.
LEXICAL_SHARE = 0.8


def lexical_judge(sentence: str, passages: Sequence[Passage]) -> bool:
    """An independent, strict judge: most content words and every number of the sentence are in the passages.

    Favours verbatim quotes (the extractive answerer) and under-credits true paraphrases; reported beside
    the proxy judge so neither bias goes unseen.
    """
    words = set(tokenize([sentence])[0])
    context = " ".join(p.context for p in passages)
    have = set(tokenize([context])[0])
    _, numbers = names_and_numbers(sentence)
    _, context_numbers = names_and_numbers(context)
    share = len(words & have) / len(words) if words else 1.0
    return share >= LEXICAL_SHARE and set(numbers) <= set(context_numbers)


def mean_scores(scores: Sequence[CitationScore]) -> dict[str, float]:
    """ALCE's corpus-level numbers: the mean of per-answer recall and precision."""
    if not scores:
        return {"recall": 0.0, "precision": 0.0, "answers": 0}
    return {
        "recall": round(float(np.mean([s.recall for s in scores])), 3),
        "precision": round(float(np.mean([s.precision for s in scores])), 3),
        "answers": len(scores),
        "sentences": sum(s.sentences for s in scores),
        "citations": sum(s.citations for s in scores),
    }
