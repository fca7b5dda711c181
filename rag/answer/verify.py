"""Checking a generated answer against the passages it was given, sentence by sentence.

    model text ──split──▶ Statements (sentence + its [n] markers)
               ──markers naming no given passage: removed──▶ support of each statement by its cited passages
               ──supported: kept (citation = best-supporting sentences of the passage)
               ──unsupported: re-cited to a given passage that supports it, else dropped (or flagged)

Support is an entailment proxy, not entailment (no NLI model installs offline here):

    support = cosine(statement, best window of the cited passages) × names(statement ⊂ passages)
                                                                   × numbers(statement ⊂ passages)

A window is one sentence of a passage or two adjacent ones (a written answer often fuses two). `names` and
`numbers` are the shares of the statement's capitalised words and numbers found in the cited passages (with
their outlet, title and date): the embedding alone scores "Rubio said 12 boats" and "Rubio said 3 boats" alike,
so a number or a name the passages never mention scales the score down. The threshold
(`Settings.llm_support_threshold`) was calibrated on true and perturbed statements built from real articles,
see bench/llm_calibrate.py and docs/evaluation.md ("LLM answers").
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from rag.answer.base import TextEncoder
from rag.text.names import STARTERS, names_in
from rag.text.sentences import sentence_spans
from rag.text.tokens import STOP, STOPWORDS, tokenize, word_tokens
from rag.types import Citation, Hit

# "[1]", "[1, 2]", "[1][3]", "[2-3]", "[Passage 2]": what models write for a citation.
_MARKER = re.compile(r"\[\s*(?:passages?\s*)?(\d+(?:\s*(?:,|;|-|–|and)\s*(?:passages?\s*)?\d+)*)\s*\]", re.I)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_DOTTED = re.compile(r"\b(?:[A-Z]\.){2,}")
_WORD = re.compile(r"[A-Za-zÀ-ÖØ-öø-ÿ][\w'’-]*")
_NUMBER_WORDS = {
    w: str(i)
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
        "seventeen eighteen nineteen twenty".split()
    )
}
# Capitalised words that start sentences without being names: function words and discourse openers.
_STARTERS = STOP | STARTERS
# A sentence must have at least this many content words (stemmed, stop words removed) to count as stating
# something; shorter ones ("Here is what the passages say:") are framing and need no citation.
_MIN_CONTENT_TOKENS = 3
# Name/number tokens are matched on their first 6 letters, so "Venezuelan" finds "Venezuela".
_PREFIX = 6
# Choosing the window to quote: cosine + this × share of the sentence's content words in the window. 0.5
# lets shared words decide between windows whose cosines are close (within ~0.1), not override meaning.
_EVIDENCE_OVERLAP_WEIGHT = 0.5


@dataclass(slots=True)
class Passage:
    """A numbered passage as the model saw it, with the article body its spans index into."""

    n: int
    hit: Hit
    body: str

    @property
    def context(self) -> str:
        """Passage text plus the metadata shown to the model (names and dates may come from either)."""
        a = self.hit.article
        return f"{a.outlet}\n{a.title}\n{a.published}\n{self.hit.chunk.text}"


@dataclass(slots=True)
class Statement:
    """One sentence of the model's answer."""

    text: str  # the sentence without its markers
    cited: list[int]  # passage numbers the model gave that exist
    invalid: list[int] = field(default_factory=list)  # numbers it gave that name no passage
    states: bool = True  # says something that needs support
    support: float = 0.0
    sources: list[int] = field(default_factory=list)  # passages that support it, after checking
    repaired: bool = False  # sources differ from what the model cited
    evidence: dict[int, tuple[int, int]] = field(default_factory=dict)  # passage n → best window (body span)

    @property
    def supported(self) -> bool:
        return bool(self.sources)


def parse_markers(group: str) -> list[int]:
    """Passage numbers in one marker's inside ("1, 2", "2-4", "passage 3")."""
    nums: list[int] = []
    for part in re.split(r"\s*(?:,|;|and)\s*", re.sub(r"(?i)passages?", "", group)):
        if re.fullmatch(r"\s*\d+\s*[-–]\s*\d+\s*", part):
            a, b = (int(x) for x in re.split(r"[-–]", part))
            nums.extend(range(a, b + 1) if 0 < b - a < 20 else [a, b])
        elif part.strip().isdigit():
            nums.append(int(part))
    return nums


def split_statements(text: str, valid: Sequence[int]) -> list[Statement]:
    """Sentences of `text` with their markers; a marker opening a sentence belongs to the one before."""
    valid_set = set(valid)
    out: list[Statement] = []
    for s, e in sentence_spans(text):
        sentence = text[s:e]
        lead = re.match(r"(?:\s*" + _MARKER.pattern + r"[.,;:]?)+", sentence, re.I)
        if lead and out:
            nums = [n for m in _MARKER.finditer(lead.group(0)) for n in parse_markers(m.group(1))]
            _add_markers(out[-1], nums, valid_set)
            sentence = sentence[lead.end() :]
        nums = [n for m in _MARKER.finditer(sentence) for n in parse_markers(m.group(1))]
        clean = _MARKER.sub("", sentence)
        clean = re.sub(r"\s+([.,;:!?])", r"\1", re.sub(r"\s{2,}", " ", clean)).strip()
        if not clean.strip(" .,;:-"):
            continue
        st = Statement(text=clean, cited=[])
        _add_markers(st, nums, valid_set)
        st.states = len(tokenize([clean])[0]) >= _MIN_CONTENT_TOKENS
        out.append(st)
    return out


def _add_markers(st: Statement, nums: list[int], valid: set[int]) -> None:
    for n in nums:
        target = st.cited if n in valid else st.invalid
        if n not in target:
            target.append(n)


def _norm_number(tok: str) -> str:
    return tok.replace(",", "").rstrip(".")


def _bare(word: str) -> str:
    """A lower-cased word without a possessive or edge punctuation: "trump's" → "trump"."""
    return re.sub(r"['’]s$", "", word).strip("'’-")


def _undot(text: str) -> str:
    """ "U.S." → "US", "U.N." → "UN": acronyms written either way match."""
    return _DOTTED.sub(lambda m: m.group(0).replace(".", ""), text)


def _initials(text: str) -> set[str]:
    """Lower-cased initials of multi-word names ("United States" → "us"), to match their acronyms."""
    return {"".join(w[0] for w in n.split() if w[0].isupper()).lower() for n in _groups(text)}


def _groups(text: str) -> list[str]:
    """Names of two or more words ("United States", "Bank of England"), by the shared name finder."""
    return [n for n in names_in(word_tokens(text), question=True) if len(n.split()) > 1]


def names_and_numbers(sentence: str) -> tuple[list[str], list[str]]:
    """Capitalised words (not sentence-initial common words) and numbers of `sentence`, normalised."""
    sentence = _undot(sentence)
    numbers = [_norm_number(m.group(0)) for m in _NUMBER.finditer(sentence)]
    names: list[str] = []
    for i, m in enumerate(_WORD.finditer(sentence)):
        w = m.group(0)
        low = w.lower()
        if low in _NUMBER_WORDS:
            numbers.append(_NUMBER_WORDS[low])
        elif w[0].isupper() and low not in STOPWORDS and not (i == 0 and low in _STARTERS):
            names.append(_bare(low))
    return names, numbers


def _vocabulary(text: str) -> tuple[set[str], set[str]]:
    """Word prefixes (and initials of multi-word names) and numbers of a passage, for matching."""
    text = _undot(text)
    words = {_bare(w.group(0).lower())[:_PREFIX] for w in _WORD.finditer(text)} | _initials(text)
    numbers = {_norm_number(m.group(0)) for m in _NUMBER.finditer(text)}
    numbers |= {d for w, d in _NUMBER_WORDS.items() if re.search(rf"\b{w}\b", text, re.I)}
    return words, numbers


def _coverage(sentence: str, words: set[str], nums: set[str]) -> tuple[float, float]:
    names, numbers = names_and_numbers(sentence)
    # A multi-word name counts as found when the passage has its acronym ("United States" / "US").
    aliased = {w.lower() for n in _groups(_undot(sentence)) if _initials(n) & words for w in n.split()}
    name_cov = sum(x[:_PREFIX] in words or x in aliased for x in names) / len(names) if names else 1.0
    num_cov = sum(x in nums for x in numbers) / len(numbers) if numbers else 1.0
    return name_cov, num_cov


def entity_coverage(sentence: str, passage_text: str) -> tuple[float, float]:
    """Shares of the sentence's names and of its numbers that the passage contains (1.0 when it has none)."""
    return _coverage(sentence, *_vocabulary(passage_text))


def support(cosine: float, name_share: float, number_share: float) -> float:
    """The entailment proxy: cosine scaled down by the names and numbers the passages lack (squared shares:
    one unknown number among two halves the score twice over; see bench/llm_calibrate.py for the choice)."""
    return cosine * name_share**2 * number_share**2


class SupportScorer:
    """Scores how well given passages support a sentence (see the module docstring for the formula)."""

    def __init__(self, embedder: TextEncoder, passages: Sequence[Passage]) -> None:
        self.embedder = embedder
        self.passages = {p.n: p for p in passages}
        self.windows: dict[int, list[tuple[int, int]]] = {}
        texts: list[str] = []
        owner: list[int] = []
        for p in passages:
            c = p.hit.chunk
            spans = sentence_spans(c.text, offset=c.start)
            wins = spans + [(a[0], b[1]) for a, b in zip(spans, spans[1:], strict=False)]
            wins = wins or [(c.start, c.end)]
            self.windows[p.n] = wins
            texts.extend(p.body[s:e] for s, e in wins)
            owner.extend([p.n] * len(wins))
        self._vecs = embedder.encode(texts) if texts else np.zeros((0, 1), dtype=np.float32)
        self._owner = np.array(owner)
        self._tokens = [set(t) for t in tokenize(texts)] if texts else []
        self._vocab = {p.n: _vocabulary(p.context) for p in passages}

    def similarities(self, sentences: Sequence[str]) -> np.ndarray:
        """Cosine of each sentence (rows) with every window (columns)."""
        if not sentences or not len(self._owner):
            return np.zeros((len(sentences), len(self._owner)), dtype=np.float32)
        return self.embedder.encode(list(sentences)) @ self._vecs.T

    def features(
        self, sentence: str, sims: np.ndarray, ns: Sequence[int]
    ) -> tuple[float, float, float, dict[int, tuple[int, int]]]:
        """(best cosine, share of names found, share of numbers found, best window per passage) of `sentence`
        against passages `ns` taken together; `sims` is the sentence's row of `similarities`."""
        best_sim = 0.0
        evidence: dict[int, tuple[int, int]] = {}
        words = set(tokenize([sentence])[0])
        for n in ns:
            idx = np.flatnonzero(self._owner == n)
            best_sim = max(best_sim, float(sims[idx].max()))
            # The quoted evidence: the window most like the sentence, in meaning and in its own words (the
            # lead "can only be defeated with military force" and the quote "…with military power" embed
            # alike; a sentence saying "military power" should quote the latter).
            overlap = [len(words & self._tokens[j]) / len(words) if words else 0.0 for j in idx]
            j = int(idx[int(np.argmax(sims[idx] + _EVIDENCE_OVERLAP_WEIGHT * np.array(overlap)))])
            evidence[n] = self.windows[n][j - int(idx[0])]
        vocab = set().union(*(self._vocab[n][0] for n in ns))
        nums = set().union(*(self._vocab[n][1] for n in ns))
        name_cov, num_cov = _coverage(sentence, vocab, nums)
        return max(best_sim, 0.0), name_cov, num_cov, evidence

    def score(self, sentence: str, sims: np.ndarray, ns: Sequence[int]) -> tuple[float, dict[int, tuple[int, int]]]:
        """Support of `sentence` by passages `ns` together, and each passage's best window."""
        ns = [n for n in ns if n in self.passages]
        if not ns:
            return 0.0, {}
        cosine, name_cov, num_cov, evidence = self.features(sentence, sims, ns)
        return support(cosine, name_cov, num_cov), evidence


def check(statements: list[Statement], scorer: SupportScorer, threshold: float) -> None:
    """Fill in `support`, `sources` and `evidence` of each stating statement (in place).

    A statement's cited passages are scored together (as ALCE does). A cited passage that neither supports it
    alone nor is needed by the others is removed (ALCE's "irrelevant citation"). A statement its citations do
    not support, or that has none, is re-cited to the single given passage that supports it best, if any does.
    """
    stating = [s for s in statements if s.states]
    sims = scorer.similarities([s.text for s in stating])
    for st, row in zip(stating, sims, strict=True):
        support, evidence = scorer.score(st.text, row, st.cited)
        sources = list(st.cited) if support >= threshold else []
        if len(sources) > 1:
            for n in list(sources):
                alone = scorer.score(st.text, row, [n])[0]
                rest = [m for m in sources if m != n]
                if alone < threshold and scorer.score(st.text, row, rest)[0] >= threshold:
                    sources = rest
        if not sources:
            scored = [(scorer.score(st.text, row, [n])[0], n) for n in scorer.passages]
            alt_support, alt = max(scored, default=(0.0, 0))
            if alt_support >= threshold:
                support, evidence, sources = alt_support, scorer.score(st.text, row, [alt])[1], [alt]
        st.support = support
        st.sources = sources
        st.evidence = {n: evidence[n] for n in sources if n in evidence}
        st.repaired = sorted(sources) != sorted(st.cited)


@dataclass(slots=True)
class Verified:
    """The checked answer: text with renumbered markers, its citations, and what was removed."""

    text: str
    citations: list[Citation]
    kept: int  # stating sentences kept
    dropped: list[str]  # stating sentences no given passage supports
    invalid_markers: list[int]
    repaired: int  # statements whose citations were changed by the check


def compose(statements: list[Statement], passages: Sequence[Passage], flag_unsupported: bool = False) -> Verified:
    """Rebuild the answer from checked statements: markers renumbered in order of first use, one citation per
    cited passage whose quote spans the windows that support its statements (`quote == body[start:end]`)."""
    by_n = {p.n: p for p in passages}
    order: list[int] = []
    spans: dict[int, list[tuple[int, int]]] = {}
    parts: list[str] = []
    dropped: list[str] = []
    for st in statements:
        if st.states and not st.supported:
            dropped.append(st.text)
            if flag_unsupported:
                parts.append(f"{st.text} [unsupported]")
            continue
        if not st.states:
            parts.append(st.text)
            continue
        for n in st.sources:
            if n not in order:
                order.append(n)
            spans.setdefault(n, []).append(st.evidence.get(n, (by_n[n].hit.chunk.start, by_n[n].hit.chunk.end)))
        marks = "".join(f"[{order.index(n) + 1}]" for n in sorted(st.sources, key=order.index))
        parts.append(_attach(st.text, marks))
    citations = []
    for i, n in enumerate(order, start=1):
        p = by_n[n]
        start, end = min(s for s, _ in spans[n]), max(e for _, e in spans[n])
        a = p.hit.article
        citations.append(
            Citation(
                n=i,
                outlet=a.outlet,
                title=a.title,
                published=a.published,
                url=a.url,
                article_id=a.id,
                quote=p.body[start:end],
                start=start,
                end=end,
                chunk_id=p.hit.chunk.id,
            )
        )
    kept = sum(1 for st in statements if st.states and st.supported)
    return Verified(
        text=" ".join(parts).strip() if kept else "",
        citations=citations if kept else [],
        kept=kept,
        dropped=dropped,
        invalid_markers=sorted({n for st in statements for n in st.invalid}),
        repaired=sum(st.repaired for st in statements if st.supported),
    )


def _attach(sentence: str, marks: str) -> str:
    """Put markers before the sentence's final punctuation: "He left [1]." reads better than "He left. [1]"."""
    m = re.search(r"([.!?…]+[\"'”’)]*)$", sentence)
    if m:
        return f"{sentence[: m.start()]} {marks}{m.group(1)}"
    return f"{sentence} {marks}"
