"""Calibrate the support threshold of rag/answer/verify.py on true and perturbed statements from real articles.

    .venv/bin/python bench/llm_calibrate.py [--corpus ../shared/eval/multihop_rag/corpus.jsonl] [--n 300]

Statements are built from sentences of MultiHop-RAG articles (not the seed articles the dev questions are
about), each scored against a passage (a ~1,000-character chunk, as the index makes them):

true (the passage supports it)              false (it does not)
  verbatim   the sentence itself              number     one number in it changed
  clause     its longest clause, "<outlet>    name       one name in it replaced by a name from another
             reported that …"                            article that this passage never mentions
  compressed a quarter of its plain words     wrong      the clause form, scored against the most similar
             dropped (names/numbers kept)                passage of another article (a wrong citation)
  fused      it and the next sentence as one  splice     its first half + the second half of a sentence of
                                                         the most similar other article
  (blind spot, reported, not used to choose: "negated", the sentence with "not" inserted)

For each candidate formula (`FORMULAS`), the threshold maximising balanced accuracy (mean of the true-pass and
false-reject rates) is printed with each kind's pass rate there and at 0.50/0.55/0.60.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rag.answer.verify import Passage, SupportScorer, support  # noqa: E402
from rag.chunking import chunk_spans  # noqa: E402
from rag.config import Settings  # noqa: E402
from rag.embedding import get_embedder  # noqa: E402
from rag.text.sentences import sentence_spans  # noqa: E402
from rag.types import ArticleRef, Chunk, Hit  # noqa: E402

POSITIVE = ("verbatim", "clause", "compressed", "fused")
NEGATIVE = ("number", "name", "wrong", "splice")
_NAME = re.compile(r"(?<=\s)[A-Z][a-z]{2,}(?:\s+[A-Z][a-z]{2,})*")


def _words(s: str) -> int:
    return len(s.split())


def build_cases(articles: list[dict], n: int, rng: random.Random, embedder) -> tuple[list[Passage], list[tuple]]:
    """Passages and (kind, statement, passage index) cases."""
    passages: list[Passage] = []
    picks: list[tuple[int, str, str | None]] = []  # (passage index, sentence, next sentence)
    for art in rng.sample(articles, min(n, len(articles))):
        body = art["body"]
        spans = chunk_spans(body, 1000, 200)
        if not spans:
            continue
        s, e = rng.choice(spans)
        sents = [(a, b) for a, b in sentence_spans(body[s:e], offset=s) if 10 <= _words(body[a:b]) <= 60]
        if not sents:
            continue
        k = rng.randrange(len(sents))
        nxt = body[sents[k + 1][0] : sents[k + 1][1]] if k + 1 < len(sents) else None
        ref = ArticleRef(art["url"], art["outlet"], art["title"], art["published"][:10], art["url"])
        hit = Hit(chunk=Chunk(art["url"], s, e, body[s:e], len(passages)), article=ref, score=1.0)
        passages.append(Passage(len(passages) + 1, hit, body))
        picks.append((len(passages), body[sents[k][0] : sents[k][1]], nxt))
    vecs = embedder.encode([p.hit.chunk.text for p in passages])
    sims = vecs @ vecs.T
    for i, p in enumerate(passages):  # never the same article as the nearest "other" passage
        for j, q in enumerate(passages):
            if q.hit.article.id == p.hit.article.id:
                sims[i, j] = -1
    all_names = sorted({m.group(0) for p in passages for m in _NAME.finditer(p.hit.chunk.text)})

    cases: list[tuple] = []
    for (pn, sent, nxt), row in zip(picks, sims, strict=True):
        p = passages[pn - 1]
        other = passages[int(np.argmax(row))]
        core = sent.rstrip(' .!?"”’')
        clause = max(re.split(r"[,;:]\s+", core), key=_words)
        clause = clause if _words(clause) >= 6 else core
        cases.append(("verbatim", sent, pn))
        cases.append(("clause", f"{p.hit.article.outlet} reported that {clause}.", pn))
        words = core.split()
        keep = [w for w in words if w[:1].isupper() or any(c.isdigit() for c in w) or rng.random() > 0.25]
        cases.append(("compressed", " ".join(keep) + ".", pn))
        if nxt:
            cases.append(("fused", f"{core}, and {nxt[0].lower()}{nxt[1:]}", pn))
        nums = list(re.finditer(r"\d+(?:[.,]\d+)*", sent))
        if nums:
            m = rng.choice(nums)
            value = m.group(0).replace(",", "")
            new = str(int(float(value)) * 2 + 3) if value.replace(".", "").isdigit() else "17"
            cases.append(("number", sent[: m.start()] + new + sent[m.end() :], pn))
        names = [m for m in _NAME.finditer(sent)]
        text_lower = p.context.lower()
        foreign = [x for x in all_names if x.lower() not in text_lower]
        if names and foreign:
            m = rng.choice(names)
            cases.append(("name", sent[: m.start()] + rng.choice(foreign) + sent[m.end() :], pn))
        cases.append(("wrong", f"{p.hit.article.outlet} reported that {clause}.", other.n))
        osents = [other.body[a:b] for a, b in sentence_spans(other.hit.chunk.text, offset=other.hit.chunk.start)]
        osents = [x for x in osents if _words(x) >= 8]
        if osents:
            ow = rng.choice(osents).split()
            cases.append(("splice", " ".join(words[: len(words) // 2] + ow[len(ow) // 2 :]), pn))
        aux = re.search(r"\b(is|are|was|were|has|have|had|will|would|can|could)\b", sent)
        if aux:
            cases.append(("negated", sent[: aux.end()] + " not" + sent[aux.end() :], pn))
    return passages, cases


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=ROOT.parent / "shared/eval/multihop_rag/corpus.jsonl")
    ap.add_argument("--n", type=int, default=300, help="articles sampled (one passage each)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, help="write per-case features here")
    ap.add_argument("--from-json", type=Path, help="only report on features written earlier with --json")
    args = ap.parse_args()
    if args.from_json:
        report(json.loads(args.from_json.read_text(encoding="utf-8")))
        return
    t0 = time.perf_counter()
    articles = [json.loads(line) for line in args.corpus.read_text(encoding="utf-8").splitlines() if line.strip()]
    articles = [a for a in articles if len(a.get("body", "")) > 500]
    embedder = get_embedder(Settings().model)
    passages, cases = build_cases(articles, args.n, random.Random(args.seed), embedder)
    scorer = SupportScorer(embedder, passages)
    sims = scorer.similarities([c[1] for c in cases])
    rows = []
    for (kind, text, pn), row in zip(cases, sims, strict=True):
        cosine, names, numbers, _ = scorer.features(text, row, [pn])
        rows.append({"kind": kind, "cosine": cosine, "names": names, "numbers": numbers, "statement": text})
    print(f"{len(passages)} passages, {len(rows)} statements, {time.perf_counter() - t0:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(rows, ensure_ascii=False, indent=1), encoding="utf-8")
    report(rows)


#: Candidate entailment proxies over (cosine, share of names found, share of numbers found).
FORMULAS = {
    "cosine alone": lambda c, a, b: c,
    "cosine x names x numbers": lambda c, a, b: c * a * b,
    "cosine x names^2 x numbers^2 (used)": support,
    "cosine x names x numbers^2": lambda c, a, b: c * a * b * b,
}


def report(rows: list[dict]) -> None:
    kinds = [k for k in (*POSITIVE, *NEGATIVE, "negated") if any(r["kind"] == k for r in rows)]
    print("cases:", {k: sum(r["kind"] == k for r in rows) for k in kinds})

    def rate(scores: list[float], kind: str, t: float) -> float:
        return float(np.mean([sc >= t for sc, r in zip(scores, rows, strict=True) if r["kind"] == kind]))

    for name, f in FORMULAS.items():
        scores = [f(r["cosine"], r["names"], r["numbers"]) for r in rows]
        pos = [sc for sc, r in zip(scores, rows, strict=True) if r["kind"] in POSITIVE]
        neg = [sc for sc, r in zip(scores, rows, strict=True) if r["kind"] in NEGATIVE]
        grid = np.arange(0.30, 0.95, 0.01)
        bal = [0.5 * np.mean([x >= t for x in pos]) + 0.5 * np.mean([x < t for x in neg]) for t in grid]
        t = float(grid[int(np.argmax(bal))])
        print(f"\n{name}: best threshold {t:.2f}, balanced accuracy {max(bal):.3f}")
        for th in sorted({round(t, 2), 0.50, 0.55, 0.60}):
            print(f"  pass rate at {th:.2f}: " + "  ".join(f"{k} {rate(scores, k, th):.2f}" for k in kinds))


if __name__ == "__main__":
    main()
