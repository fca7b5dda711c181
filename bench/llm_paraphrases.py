"""Support scores of hand-written, abstractive paraphrases of seed facts (the kind of sentence an LLM writes),
as a check on the threshold bench/llm_calibrate.py suggests from synthetic statements.

    RAG_INDEX_DIR=/tmp/llm/seeds .venv/bin/rag index
    .venv/bin/python bench/llm_paraphrases.py --index-dir /tmp/llm/seeds

Each paraphrase is scored against the best of the retrieved passages (top 5, as the LLM sees them) that
contain the fact; these sentences are true, so every one below the threshold is a sentence the verifier
would wrongly drop.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rag.answer import llm  # noqa: E402
from rag.answer.verify import SupportScorer, support  # noqa: E402
from rag.config import Settings  # noqa: E402
from rag.pipeline import Pipeline  # noqa: E402

# (question, paraphrase, words that identify the passage holding the fact)
CASES = [
    ("According to Stephen Miller, what is the only way cartels can be defeated?",
     "Miller said drug cartels can only be beaten with military power.", "military power"),
    ("What did Marco Rubio say about blowing up the boat instead of interdicting it?",
     "Rubio said the US chose to blow the boat up rather than stop it.", "blew it up"),
    ("Which newspaper first reported Trump's directive to use military force against cartels?",
     "The New York Times was the first to report that Trump had directed the use of military force against "
     "cartels.", "New York Times"),
    ("How did Hegseth describe the countries attending the meeting?",
     "Hegseth described the countries at the meeting as part of Western civilisation.", "Western civilisation"),
    ("What did Heritage Foundation president Kevin Roberts say about the cartels?",
     "Kevin Roberts praised the administration for being willing to confront the cartels.", "willing to confront"),
    ("What did White House spokesperson Anna Kelly say the strike was taken in defense of?",
     "Anna Kelly said the strike defended the national interests of the United States.", "national interests"),
    ("What happened during the Mexican Senate debate about US military intervention?",
     "A debate in Mexico's Senate about US military intervention ended in a brawl.", "brawl"),
    ("What does the terrorist designation give the administration, according to Rubio?",
     "Rubio said the terrorist label gives the administration legal authorities it did not have before.",
     "legal authorities"),
    ("What goal of the conference did Ryan Berg describe?",
     "Ryan Berg said the goal was to bring together like-minded governments.", "like-minded"),
    ("Whose human rights did Miller say the administration will protect?",
     "Miller said the administration will protect the human rights of average citizens.", "average citizens"),
]  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--index-dir", type=Path, required=True)
    args = ap.parse_args()
    settings = Settings(index_dir=args.index_dir)
    pipeline = Pipeline(settings)
    scores = []
    for question, sentence, needle in CASES:
        hits = pipeline.retrieve(pipeline.search_query(question))
        passages = llm.make_passages(hits[: settings.llm_passages], pipeline.retriever)
        scorer = SupportScorer(pipeline.retriever.embedder, passages)
        row = scorer.similarities([sentence])[0]
        ns = [p.n for p in passages if needle.lower() in p.hit.chunk.text.lower()]
        if not ns:
            print(f"  (fact not retrieved) {sentence}")
            continue
        c, a, b = max(scorer.features(sentence, row, [n])[:3] for n in ns)
        scores.append(support(c, a, b))
        print(f"  support {scores[-1]:.3f} (cosine {c:.3f}, names {a:.2f}, numbers {b:.2f})  {sentence}")
    t = settings.llm_support_threshold
    print(f"\n{sum(s >= t for s in scores)}/{len(scores)} paraphrases pass the threshold {t}; lowest {min(scores):.3f}")


if __name__ == "__main__":
    main()
