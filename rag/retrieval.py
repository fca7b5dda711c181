"""Hybrid retrieval: dense (cosine) and lexical (BM25 via bm25s), fused by reciprocal rank, per named source.

    SearchQuery ──user filters──▶ allowed chunks
                ──main search: dense top-N ∪ BM25 top-N, RRF──────────────┐
                ──one search per SubQuery (within the outlet/date it names)─┴─▶ weighted sum ──▶ per-article cap
                ──▶ top-k Hits

Dense search finds paraphrases; BM25 finds the rare names and numbers news questions hinge on (on the
MultiHop-RAG dev split BM25 alone beats all-MiniLM-L6-v2 alone, Hits@4 0.71 vs 0.54). Reciprocal-rank fusion
needs no score calibration between the two. A question that names several sources ("did TechCrunch and The
Verge agree…") needs evidence from each: one sub-search per named source, merged into the main ranking,
keeps one loud source from filling the whole top k. Every Hit carries its cosine similarity to the query
because the answerer's refusal decision uses it. Measurements behind each choice: docs/evaluation.md.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import bm25s
import numpy as np
import Stemmer
from threadpoolctl import threadpool_limits

from rag import vector_index
from rag.config import Settings
from rag.embedding import Embedder
from rag.filters import ChunkFilters
from rag.query import Analysis, OutletMatcher, analyse
from rag.sentences import sentence_spans
from rag.store import IndexData
from rag.types import Hit, SearchQuery, SubQuery

_STEMMER = Stemmer.Stemmer("english")
_SENTENCE_CACHE = 50_000  # chunks whose sentence terms are kept (a few KB each)
logging.getLogger("bm25s").setLevel(logging.WARNING)  # it logs every index build at DEBUG
# One BLAS thread. A query's matrix products here are small (8,000 x 384 on MultiHop-RAG: well under 1 ms on
# one core), but a multi-threaded OpenBLAS keeps its idle threads spinning after each product, and they take
# the cores from the model's next query encoding: on the 2-core machine the median warm retrieval went from 93 ms
# to 56 ms with BLAS limited to one thread (bench/query_latency.py, docs/benchmarks.md).
threadpool_limits(limits=1, user_api="blas")

#: bm25s's 33 English stop words plus question words, auxiliaries and pronouns: words that carry no topic,
#: so that "What did X say about Y?" is matched on X and Y only.
STOPWORDS = sorted(
    set(bm25s.stopwords.STOPWORDS_EN)
    | set(
        """what which who whom whose when where why how whether did do does doing done has have had having been
    being were am can could would should shall may might must its it's he she him his her hers we us
    our ours you your yours i me my mine them theirs those from about up down out over under again
    also very just than too so any some all both each few more most other own same nor s t don now
    one ones here after before during while since until against between through above below off
    according say says said tell told""".split()
    )
)


def tokenize(texts: Sequence[str]) -> list[list[str]]:
    """BM25 tokens: lower-cased words of 2+ characters, stop words removed, Snowball-stemmed."""
    return bm25s.tokenize(list(texts), stopwords=STOPWORDS, stemmer=_STEMMER, return_ids=False, show_progress=False)


def _rrf(ranked: Sequence[np.ndarray], weights: Sequence[float], k: float) -> dict[int, float]:
    """Weighted reciprocal-rank fusion of ranked position arrays: Σ w / (k + rank)."""
    fused: dict[int, float] = {}
    for order, w in zip(ranked, weights, strict=True):
        for rank, pos in enumerate(order.tolist()):
            fused[pos] = fused.get(pos, 0.0) + w / (k + rank + 1)
    return fused


class Retriever:
    """Search over one loaded index. Build once per index (BM25 is indexed here, in memory)."""

    def __init__(self, index: IndexData, embedder: Embedder, settings: Settings) -> None:
        self.index = index
        self.embedder = embedder
        self.settings = settings
        self.ids = np.fromiter(sorted(index.chunks), dtype=np.int64, count=len(index.chunks))
        self.pos = {int(cid): i for i, cid in enumerate(self.ids)}
        n = len(self.ids)
        chunks = [index.chunks[int(cid)] for cid in self.ids]
        refs = [index.refs[c.article_id] for c in chunks]
        self.filters = ChunkFilters(chunks, index.refs)
        self.chunk_article = self.filters.chunk_article  # the per-article cap counts with it
        self.outlets = self.filters.outlets
        self.matcher = OutletMatcher(self.outlets)

        faiss_ids, vectors = vector_index.vectors(index.faiss_index)
        order = np.argsort(faiss_ids)  # faiss row → position in self.ids (both sorted by chunk id)
        self.vectors = vectors[order] if len(order) and not np.array_equal(order, np.arange(n)) else vectors
        # Exact dense scoring (one matrix product) for a flat index; an HNSW index is searched approximately.
        self._exact = vector_index.kind_of(index.faiss_index) == vector_index.FLAT
        self._sentences: dict[int, list[set[str]]] = {}

        prefix = [f"{r.outlet}\n" if settings.bm25_outlet else "" for r in refs]
        docs = [f"{p}{r.title}\n{c.text}" for p, r, c in zip(prefix, refs, chunks, strict=True)]
        self.bm25 = bm25s.BM25()
        self._idf: dict[str, float] = {}
        if docs:
            self.bm25.index(tokenize(docs), show_progress=False)
            # Document frequency of each term = entries in its column of the CSC score matrix.
            df = np.diff(self.bm25.scores["indptr"])
            self._idf = {
                term: float(np.log(1 + (n - df[tid] + 0.5) / (df[tid] + 0.5)))
                for term, tid in self.bm25.vocab_dict.items()
                if term
            }
        self._max_idf = max(self._idf.values(), default=1.0)

    def knows(self, term: str) -> bool:
        """Whether a (stemmed) term occurs anywhere in the indexed text."""
        return term in self._idf

    def idf(self, term: str) -> float:
        """BM25 inverse document frequency of a term; a term the corpus never uses counts as rarest."""
        return self._idf.get(term, self._max_idf)

    def analyse(self, question: str) -> Analysis:
        """The outlets, dates and unknown sources `question` names (see `rag.query`)."""
        return analyse(question, self.matcher, self.filters.newest)

    # -- filters -------------------------------------------------------------------------------------

    def mask_for(
        self, outlets: Sequence[str] = (), since: str | None = None, until: str | None = None
    ) -> np.ndarray | None:
        """Boolean mask over `self.ids` for outlet/date filters, or None when nothing is filtered."""
        return self.filters.mask(outlets, since, until)

    def allowed_mask(self, query: SearchQuery) -> np.ndarray | None:
        """The mask of the filters the user set (outlets, dates), or None when nothing is filtered."""
        return self.mask_for(query.outlets, query.since, query.until)

    # -- dense and lexical candidates ----------------------------------------------------------------

    def _dense_top(self, qvec: np.ndarray, n: int, mask: np.ndarray | None, sims: np.ndarray | None) -> np.ndarray:
        """Positions of the `n` chunks nearest to `qvec` within `mask`, best first (`sims`: all cosines)."""
        allowed = np.flatnonzero(mask) if mask is not None else None
        if sims is not None:  # exact: every cosine is at hand
            if allowed is None:
                return _best(np.arange(len(sims)), sims, n)
            return _best(allowed, sims[allowed], n)
        if allowed is not None and len(allowed) < vector_index.EXACT_BELOW:
            # A narrow filter (one outlet, a date range) is scored exactly from the retriever's own vectors, as
            # `vector_index.search` would, without mapping ids back and forth.
            return _best(allowed, self.vectors[allowed] @ qvec, n)
        ids, _ = vector_index.search(
            self.index.faiss_index, qvec[None, :], n, allowed=None if allowed is None else self.ids[allowed]
        )
        return np.asarray([self.pos[int(i)] for i in ids[0] if i >= 0], dtype=np.int64)

    def _lexical_top(self, scores: np.ndarray | None, n: int, mask: np.ndarray | None) -> np.ndarray:
        """Positions of the `n` best chunks by BM25 `scores` within `mask` (score > 0), best first."""
        if scores is None:
            return np.zeros(0, dtype=np.int64)
        # Only chunks holding a query term score above 0: rank those alone (a few thousand of 200,000).
        hit = scores > 0
        if mask is not None:
            hit &= mask
        nonzero = np.flatnonzero(hit)
        return _best(nonzero, scores[nonzero], n)

    def _ranked(self, qvec: np.ndarray, text: str, mask: np.ndarray | None, memo: dict) -> dict[int, float]:
        """Reciprocal-rank fusion of the dense and BM25 candidates within `mask`. `memo` keeps each text's
        cosines and BM25 scores for the whole search: sub-searches of one question share them."""
        s = self.settings
        if ("lex", text) not in memo:
            tokens = tokenize([text])[0]
            memo["lex", text] = self.bm25.get_scores(tokens) if tokens else None
            # Exact dense scoring (one matrix product) for a flat index; HNSW is searched per mask.
            memo["sims", text] = self.vectors @ qvec if self._exact else None
        dense = self._dense_top(qvec, s.candidates, mask, memo["sims", text])
        lexical = self._lexical_top(memo["lex", text], s.candidates, mask)
        return _rrf([dense, lexical], [s.dense_weight, s.bm25_weight], s.rrf_k)

    def _sentence_terms(self, pos: int) -> list[set[str]]:
        """BM25 terms of each sentence of a chunk (cached: the same chunks come back for related queries)."""
        terms = self._sentences.get(pos)
        if terms is None:
            text = self.index.chunks[int(self.ids[pos])].text
            terms = [set(t) for t in tokenize([text[a:b] for a, b in sentence_spans(text)])]
            if len(self._sentences) >= _SENTENCE_CACHE:
                self._sentences.pop(next(iter(self._sentences)))
            self._sentences[pos] = terms
        return terms

    def sentence_match(self, terms: set[str], pos: int) -> float:
        """IDF-weighted share of `terms` found in the chunk's best-matching single sentence.

        A gold fact is one sentence; a chunk that merely mentions the question's words across many sentences
        ranks high by BM25 but rarely holds the fact. This sharpens the ranking (MRR@10 +0.06, see
        docs/evaluation.md)."""
        return self._sentence_matches(terms, [pos])[0]

    def _sentence_matches(self, terms: set[str], positions: Sequence[int]) -> list[float]:
        """`sentence_match` of several chunks, with the terms' IDF looked up once (the re-rank's hot loop)."""
        weight = {t: self.idf(t) for t in terms}
        total = sum(weight.values())
        if not total:
            return [0.0] * len(positions)
        out = []
        for pos in positions:
            best = 0.0
            for sent in self._sentence_terms(pos):
                common = terms & sent
                if common:
                    best = max(best, sum(weight[t] for t in common))
            out.append(best / total)
        return out

    # -- fused search ------------------------------------------------------------------------------------

    def search(self, query: SearchQuery, k: int | None = None) -> list[Hit]:
        """The top `k` chunks for `query`, filters applied, best first."""
        k = k or self.settings.top_k
        if len(self.ids) == 0:
            return []
        s = self.settings
        mask = self.allowed_mask(query)
        if mask is not None and not mask.any():
            return []
        subs = [sq for sq in query.subqueries if s.subquery_weight > 0 or sq.kind != "source"]
        subs = [sq for sq in subs if s.part_weight > 0 or sq.kind != "part"]
        texts = list(dict.fromkeys([query.text] + [sq.text for sq in subs]))
        vecs = self.embedder.encode(texts, batch_size=len(texts)) if len(texts) > 1 else None
        if vecs is None:
            vecs = self.embedder.encode_query(query.text)
        vec_of = dict(zip(texts, vecs, strict=True))
        qvec = vec_of[query.text]

        memo: dict = {}
        fused = self._ranked(qvec, query.text, mask, memo)
        masks: list[np.ndarray | None] = []
        for sq in subs:
            sub_mask = self._sub_mask(sq, mask)
            masks.append(sub_mask)
            if sub_mask is not None and not sub_mask.any():
                continue
            if sq.kind == "source":  # the whole question, within the source
                weight, ranked = s.subquery_weight, self._ranked(qvec, query.text, sub_mask, memo)
            else:  # one part of the question, within the outlets it names
                weight, ranked = s.part_weight, self._ranked(vec_of[sq.text], sq.text, sub_mask, memo)
            for pos, score in ranked.items():
                fused[pos] = fused.get(pos, 0.0) + weight * score
        ranked_all = sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))
        if s.rerank_pool > 0:
            top = self._rerank(query, ranked_all[: max(s.rerank_pool, k)], subs, masks, vec_of, k)
        else:
            top = self._cap(ranked_all, k)
        hits = []
        for pos, score in top:
            chunk = self.index.chunks[int(self.ids[pos])]
            cos = float(self.vectors[pos] @ qvec)
            hits.append(Hit(chunk, self.index.refs[chunk.article_id], score, dense=cos, bm25=None))
        return hits

    def _sub_mask(self, sq: SubQuery, mask: np.ndarray | None) -> np.ndarray | None:
        """Where a sub-query searches: its outlets and dates within the user's filters. A date that leaves
        nothing falls back to the outlet alone: a wrong date must not silence a named source."""
        if not (sq.outlets or sq.since or sq.until):
            return mask
        dated = self.settings.subquery_dates and (sq.since or sq.until)
        sub = self.mask_for(sq.outlets, sq.since, sq.until) if dated else self.mask_for(sq.outlets)
        if sub is not None and mask is not None:
            sub = sub & mask
        if dated and sq.outlets and sub is not None and not sub.any():
            sub = self.mask_for(sq.outlets)
            if sub is not None and mask is not None:
                sub = sub & mask
        return sub

    def _rerank(
        self,
        query: SearchQuery,
        pool: list[tuple[int, float]],
        subs: Sequence[SubQuery],
        masks: Sequence[np.ndarray | None],
        vec_of: dict[str, np.ndarray],
        k: int,
    ) -> list[tuple[int, float]]:
        """Re-rank the fused pool: relevance plus best-sentence match (to the whole question, and to the one part
        a sentence restates best), then greedy selection that covers every named source and question part
        (xQuAD, Santos et al. 2010), so that a many-part question gets a passage for each part rather than ten
        for its loudest one."""
        s = self.settings
        pos = np.fromiter((p for p, _ in pool), dtype=np.int64, count=len(pool))
        fused = np.fromiter((f for _, f in pool), dtype=np.float64, count=len(pool))
        q_terms = set(tokenize([query.text])[0])
        match = np.array(self._sentence_matches(q_terms, pos.tolist()))
        part_match = np.zeros(len(pos))  # the best sentence's match to the part it restates best
        aspects = []
        for sq, m in zip(subs, masks, strict=True):
            inside = np.ones(len(pos), dtype=bool) if m is None else m[pos]
            terms = set(tokenize([sq.text])[0])
            lex = np.zeros(len(pos))
            if inside.any():
                lex[inside] = self._sentence_matches(terms, pos[inside].tolist())
            if sq.kind == "part":
                part_match = np.maximum(part_match, lex)
            if sq.kind == "source":
                # A named source's passages should match the words around its name, in meaning or wording.
                sem = np.where(inside, np.clip(self.vectors[pos] @ vec_of[sq.text], 0.0, None), 0.0)
                aspect = 0.5 * _unit(lex) + 0.5 * _unit(sem)
            else:
                aspect = _unit(lex)
            if aspect.max() > 0:
                aspects.append(aspect**2)  # squared: only a clear match counts as covering the aspect
        rel = fused / fused.max() + s.sentence_weight * match + s.part_sentence_weight * part_match
        if not aspects or s.diversity <= 0:
            order = np.argsort(-rel, kind="stable")[:k]
            return [(int(pos[i]), float(rel[i])) for i in order]
        cover = np.vstack(aspects)
        uncovered = np.ones(len(aspects))
        rel = rel / rel.max()
        chosen: list[tuple[int, float]] = []
        free = np.ones(len(pos), dtype=bool)
        for _ in range(min(k, len(pos))):
            gain = (1 - s.diversity) * rel + s.diversity * (cover * uncovered[:, None]).mean(axis=0)
            gain[~free] = -np.inf
            i = int(np.argmax(gain))
            chosen.append((int(pos[i]), float(gain[i])))
            free[i] = False
            uncovered *= 1.0 - cover[:, i]
        return chosen

    def _cap(self, ranked: list[tuple[int, float]], k: int) -> list[tuple[int, float]]:
        """The best `k`, at most `max_chunks_per_article` from one article while others are available."""
        cap = self.settings.max_chunks_per_article
        if cap <= 0:
            return ranked[:k]
        taken: list[tuple[int, float]] = []
        spill: list[tuple[int, float]] = []
        per: dict[int, int] = {}
        for pos, score in ranked:
            a = int(self.chunk_article[pos])
            if per.get(a, 0) < cap:
                per[a] = per.get(a, 0) + 1
                taken.append((pos, score))
                if len(taken) == k:
                    return taken
            else:
                spill.append((pos, score))
        return taken + spill[: k - len(taken)]


def _best(positions: np.ndarray, scores: np.ndarray, n: int) -> np.ndarray:
    """The `n` of `positions` with the highest `scores`, best first (ties: lower position first)."""
    n = min(n, len(scores))
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    top = np.argpartition(-scores, n - 1)[:n] if n < len(scores) else np.arange(len(scores))
    top = top[np.lexsort((positions[top], -scores[top]))]
    return positions[top].astype(np.int64, copy=False)


def _unit(x: np.ndarray) -> np.ndarray:
    """Scaled so that the largest value is 1 (all zeros stay zeros)."""
    top = float(x.max()) if len(x) else 0.0
    return x / top if top > 0 else x
