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

from collections.abc import Sequence

import numpy as np
from threadpoolctl import threadpool_limits

from rag import reading
from rag.backends import Backend, ChunkRow, Filter, intersect
from rag.boilerplate import Repeated
from rag.config import Settings
from rag.embedding import Embedder
from rag.lexical import idf as _idf_of
from rag.lexical import term_score
from rag.sentence_vectors import SentenceVectors
from rag.store import IndexData
from rag.text.outlets import OutletMatcher
from rag.text.sentences import sentence_spans
from rag.text.tokens import tokenize
from rag.types import Hit, SearchQuery, SubQuery, Turn

_SENTENCE_CACHE = 50_000  # chunks whose sentence terms are kept (a few KB each)
_TERM_CACHE = 200_000  # terms whose document frequency is kept
# One BLAS thread. A query's matrix products here are small (8,000 x 384 on MultiHop-RAG: well under 1 ms on
# one core), but a multi-threaded OpenBLAS keeps its idle threads spinning after each product, and they take
# the cores from the model's next query encoding: on the 2-core machine the median warm retrieval went from 93 ms
# to 56 ms with BLAS limited to one thread (bench/query_latency.py, docs/benchmarks.md).
threadpool_limits(limits=1, user_api="blas")


#: At most this many chunks of the focus articles are scored (a long live blog can have hundreds).
_FOCUS_CHUNKS = 400


def _rrf(ranked: Sequence[Sequence[int]], weights: Sequence[float], k: float) -> dict[int, float]:
    """Weighted reciprocal-rank fusion of ranked chunk-id lists: Σ w / (k + rank)."""
    fused: dict[int, float] = {}
    for order, w in zip(ranked, weights, strict=True):
        for rank, pos in enumerate(order):
            fused[pos] = fused.get(pos, 0.0) + w / (k + rank + 1)
    return fused


class Retriever:
    """Search over one index through its backend (rag/backends/). Build once per index generation.

    `index` is a loaded local `IndexData` (wrapped in the local backend) or any `Backend`. Everything that
    decides the ranking (fusion, sub-searches, re-rank) is here, so every backend answers the same way.
    It is also what the answerers read about the corpus (`rag.answer.base.CorpusStats`: term statistics,
    outlets, bodies, the model, stored sentence vectors). Without an `embedder` everything but the dense
    search works (filters, BM25 statistics, sentence matches, the re-rank): tests use it so."""

    def __init__(self, index: IndexData | Backend, embedder: Embedder | None, settings: Settings) -> None:
        if isinstance(index, IndexData):
            from rag.backends.local import LocalBackend

            backend: Backend = LocalBackend(index, settings.bm25_outlet)
        else:
            backend = index
        self.backend = backend
        self.embedder = embedder
        self.settings = settings
        self.outlets = backend.outlets()
        self.matcher = OutletMatcher(self.outlets)
        self._sentences: dict[str, list[set[str]]] = {}
        self._repeated: Repeated | None = None
        self._df: dict[str, int] = {}
        self._n_docs = backend.bm25_docs()
        min_df = backend.min_df()
        self._max_idf = _idf_of(min_df, self._n_docs) if min_df > 0 else 1.0

    @property
    def index(self):  # noqa: ANN201 - an IndexData, or the backend's view with the same attributes
        """The index behind the backend: `.manifest`, `.articles`, `.chunks`, `.refs` (the answerers read bodies)."""
        return self.backend.index

    def _dfs(self, terms: Sequence[str]) -> dict[str, int]:
        missing = [t for t in dict.fromkeys(terms) if t not in self._df]
        if missing:
            if len(self._df) + len(missing) > _TERM_CACHE:
                self._df.clear()
            self._df.update(self.backend.term_stats(missing))
        return {t: self._df[t] for t in terms}

    def knows(self, term: str) -> bool:
        """Whether a (stemmed) term occurs anywhere in the indexed text."""
        return bool(term) and self._dfs([term])[term] > 0

    def mentions(self, term: str, outlets: Sequence[str]) -> bool:
        """Whether any indexed chunk of `outlets` holds the (stemmed) `term`: one BM25 lookup under their filter."""
        return bool(term) and bool(self.backend.lexical_top([term], 1, Filter.of(outlets), {}))

    def idf(self, term: str) -> float:
        """BM25 inverse document frequency of a term; a term the corpus never uses counts as rarest."""
        df = self._dfs([term])[term] if term else 0
        return _idf_of(df, self._n_docs) if df > 0 else self._max_idf

    def read(self, question: str, history: Sequence[Turn] = (), analyse: bool = True) -> reading.Reading:
        """How `question` reads in its conversation against this corpus: its outlets, its newest date, the
        specificity of its words (see `rag.reading`)."""
        specificity = reading.corpus_specificity(self) if history else None
        newest = self.backend.newest()
        return reading.read(question, history, self.matcher, specificity, newest, analyse, self._article_text)

    def _article_text(self, article_id: str) -> str:
        """An indexed article's body, "" when it is gone (a conversation outlives index updates)."""
        return self.body(article_id) if article_id in self.index.articles else ""

    def body(self, article_id: str) -> str:
        """The full text of an indexed article."""
        return str(self.index.articles[article_id].body)

    def sentences(self, chunk_ids: Sequence[int]) -> SentenceVectors | None:
        """The sentence vectors stored for these chunks (None: the index has none)."""
        return self.backend.sentences(chunk_ids)

    def repeated(self, sentence: str) -> bool:
        """Whether `sentence` recurs across the corpus's articles: page furniture, never quoted (`rag.boilerplate`)."""
        if self._repeated is None:
            self._repeated = self.backend.repeated() or Repeated(np.zeros(0, dtype=np.int64))
        return sentence in self._repeated

    # -- filters -------------------------------------------------------------------------------------

    def filter_for(self, query: SearchQuery) -> Filter | None:
        """The filters the user set (outlets, dates), or None when nothing is filtered."""
        return Filter.of(query.outlets, query.since, query.until)

    def _allows_any(self, flt: Filter | None) -> bool:
        return not (flt is not None and (flt.empty or not self.backend.any_match(flt)))

    # -- dense and lexical candidates ----------------------------------------------------------------

    def _ranked(self, qvec: np.ndarray, text: str, flt: Filter | None, memo: dict) -> dict[int, float]:
        """Reciprocal-rank fusion of the dense and BM25 candidates within `flt`. `memo` lets a backend keep each
        text's cosines and BM25 scores for the whole search: sub-searches of one question share them."""
        s = self.settings
        if ("tokens", text) not in memo:
            memo["tokens", text] = tokenize([text])[0]
        dense, lexical = self.backend.candidates(qvec, memo["tokens", text], s.candidates, flt, memo)
        return _rrf([[c for c, _ in dense], [c for c, _ in lexical]], [s.dense_weight, s.bm25_weight], s.rrf_k)

    def _sentence_terms(self, text: str) -> list[set[str]]:
        """BM25 terms of each sentence of a chunk (cached: the same chunks come back for related queries)."""
        terms = self._sentences.get(text)
        if terms is None:
            terms = [set(t) for t in tokenize([text[a:b] for a, b in sentence_spans(text)])]
            if len(self._sentences) >= _SENTENCE_CACHE:
                self._sentences.pop(next(iter(self._sentences)))
            self._sentences[text] = terms
        return terms

    def sentence_match(self, terms: set[str], chunk_id: int) -> float:
        """IDF-weighted share of `terms` found in the chunk's best-matching single sentence.

        A gold fact is one sentence; a chunk that merely mentions the question's words across many sentences
        ranks high by BM25 but rarely holds the fact. This sharpens the ranking (MRR@10 +0.06, see
        docs/evaluation.md)."""
        row = self.backend.fetch([chunk_id])[chunk_id]
        return self._sentence_matches(terms, [row.chunk.text])[0]

    def _sentence_matches(self, terms: set[str], texts: Sequence[str]) -> list[float]:
        """`sentence_match` of several chunk texts, with the terms' IDF looked up once (the re-rank's hot loop)."""
        weight = {t: self.idf(t) for t in terms}
        total = sum(weight.values())
        if not total:
            return [0.0] * len(texts)
        out = []
        for text in texts:
            best = 0.0
            for sent in self._sentence_terms(text):
                common = terms & sent
                if common:
                    best = max(best, sum(weight[t] for t in common))
            out.append(best / total)
        return out

    # -- fused search ------------------------------------------------------------------------------------

    def search(self, query: SearchQuery, k: int | None = None) -> list[Hit]:
        """The top `k` chunks for `query`, filters applied, best first (one snapshot of the index)."""
        with self.backend.session():
            return self._search(query, k)

    def _search(self, query: SearchQuery, k: int | None) -> list[Hit]:
        k = k or self.settings.top_k
        if self.backend.chunk_count() == 0:
            return []
        s = self.settings
        flt = self.filter_for(query)
        if not self._allows_any(flt):
            return []
        subs = [sq for sq in query.subqueries if s.subquery_weight > 0 or sq.kind != "source"]
        subs = [sq for sq in subs if s.part_weight > 0 or sq.kind != "part"]
        focus = bool(query.focus) and s.focus_weight > 0 and bool(query.question)
        texts = list(dict.fromkeys([query.text] + [sq.text for sq in subs] + ([query.question] if focus else [])))
        if self.embedder is None:
            raise RuntimeError("a Retriever without an embedding model cannot search")
        vecs = self.embedder.encode_queries(texts)
        vec_of = dict(zip(texts, vecs, strict=True))
        qvec = vec_of[query.text]

        memo: dict = {}
        fused = self._ranked(qvec, query.text, flt, memo)
        filters: list[Filter | None] = []
        for sq in subs:
            sub = self._sub_filter(sq, flt)
            filters.append(sub)
            if not self._allows_any(sub):
                continue
            if sq.kind == "source":  # the whole question, within the source
                weight, ranked = s.subquery_weight, self._ranked(qvec, query.text, sub, memo)
            else:  # one part of the question, within the outlets it names
                weight, ranked = s.part_weight, self._ranked(vec_of[sq.text], sq.text, sub, memo)
            for cid, score in ranked.items():
                fused[cid] = fused.get(cid, 0.0) + weight * score
        if focus:
            for cid, score in self._focus_ranked(query, vec_of[query.question], flt).items():
                fused[cid] = fused.get(cid, 0.0) + s.focus_weight * score
        ranked_all = sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))
        if s.rerank_pool > 0:
            pool = ranked_all[: max(s.rerank_pool, k)]
            rows = self.backend.fetch([c for c, _ in pool])
            top = self._rerank(query, pool, subs, filters, vec_of, k, rows)
        else:
            top = self._cap(ranked_all, k)
            rows = self.backend.fetch([c for c, _ in top])
        hits = []
        for cid, score in top:
            row = rows[cid]
            cos = float(row.vector @ qvec)
            hits.append(Hit(row.chunk, row.ref, score, dense=cos, bm25=None))
        return hits

    def _focus_ranked(self, query: SearchQuery, qvec: np.ndarray, flt: Filter | None) -> dict[int, float]:
        """The question's own words (not the words carried from earlier turns) searched within the conversation's
        focus, the articles the last answers cited (`SearchQuery.focus`): the same reciprocal-rank fusion of a
        dense and a BM25 ranking, over their chunks only (a few dozen, scored here for every backend alike).
        Within the user's filters."""
        ids = self.backend.article_chunks(query.focus)[:_FOCUS_CHUNKS]
        rows = self.backend.fetch(ids)
        ids = [c for c in ids if flt is None or flt.matches(rows[c].ref)]
        if not ids:
            return {}
        s = self.settings
        dense = sorted(ids, key=lambda c: -float(rows[c].vector @ qvec))
        terms = tokenize([query.question])[0]
        docs = tokenize([rows[c].chunk.text for c in ids])
        mean_len = max(1.0, sum(len(d) for d in docs) / len(docs))
        lexical: dict[int, float] = {}
        for c, doc in zip(ids, docs, strict=True):
            tf: dict[str, int] = {}
            for t in doc:
                tf[t] = tf.get(t, 0) + 1
            score = sum(term_score(tf[t], len(doc), self.idf(t), mean_len) for t in terms if t in tf)
            if score > 0:
                lexical[c] = score
        ranked_lexical = sorted(lexical, key=lambda c: -lexical[c])
        return _rrf([dense[: s.candidates], ranked_lexical[: s.candidates]], [s.dense_weight, s.bm25_weight], s.rrf_k)

    def _sub_filter(self, sq: SubQuery, flt: Filter | None) -> Filter | None:
        """Where a sub-query searches: its outlets and dates within the user's filters. A date that leaves
        nothing falls back to the outlet alone: a wrong date must not silence a named source."""
        if not (sq.outlets or sq.since or sq.until):
            return flt
        dated = self.settings.subquery_dates and (sq.since or sq.until)
        own = Filter.of(sq.outlets, sq.since, sq.until) if dated else Filter.of(sq.outlets)
        sub = intersect(own, flt)
        if dated and sq.outlets and sub is not None and not self._allows_any(sub):
            sub = intersect(Filter.of(sq.outlets), flt)
        return sub

    def _rerank(
        self,
        query: SearchQuery,
        pool: list[tuple[int, float]],
        subs: Sequence[SubQuery],
        filters: Sequence[Filter | None],
        vec_of: dict[str, np.ndarray],
        k: int,
        rows: dict[int, ChunkRow] | None = None,
    ) -> list[tuple[int, float]]:
        """Re-rank the fused pool: relevance plus best-sentence match (to the whole question, and to the one part
        a sentence restates best), then greedy selection that covers every named source and question part
        (xQuAD, Santos et al. 2010), so that a many-part question gets a passage for each part rather than ten
        for its loudest one."""
        s = self.settings
        ids = [c for c, _ in pool]
        rows = rows if rows is not None else self.backend.fetch(ids)
        texts = [rows[c].chunk.text for c in ids]
        fused = np.fromiter((f for _, f in pool), dtype=np.float64, count=len(pool))
        q_terms = set(tokenize([query.text])[0])
        match = np.array(self._sentence_matches(q_terms, texts))
        part_match = np.zeros(len(ids))  # the best sentence's match to the part it restates best
        aspects = []
        vectors = np.vstack([rows[c].vector for c in ids]) if ids else None
        for sq, f in zip(subs, filters, strict=True):
            inside = np.array([f is None or f.matches(rows[c].ref) for c in ids], dtype=bool)
            terms = set(tokenize([sq.text])[0])
            lex = np.zeros(len(ids))
            if inside.any():
                lex[inside] = self._sentence_matches(terms, [t for t, ok in zip(texts, inside, strict=True) if ok])
            if sq.kind == "part":
                part_match = np.maximum(part_match, lex)
            if sq.kind == "source":
                # A named source's passages should match the words around its name, in meaning or wording.
                sem = np.where(inside, np.clip(vectors @ vec_of[sq.text], 0.0, None), 0.0)
                aspect = 0.5 * _unit(lex) + 0.5 * _unit(sem)
            else:
                aspect = _unit(lex)
            if aspect.max() > 0:
                aspects.append(aspect**2)  # squared: only a clear match counts as covering the aspect
        rel = fused / fused.max() + s.sentence_weight * match + s.part_sentence_weight * part_match
        if not aspects or s.diversity <= 0:
            order = np.argsort(-rel, kind="stable")[:k]
            return [(ids[i], float(rel[i])) for i in order]
        cover = np.vstack(aspects)
        uncovered = np.ones(len(aspects))
        rel = rel / rel.max()
        chosen: list[tuple[int, float]] = []
        free = np.ones(len(ids), dtype=bool)
        for _ in range(min(k, len(ids))):
            gain = (1 - s.diversity) * rel + s.diversity * (cover * uncovered[:, None]).mean(axis=0)
            gain[~free] = -np.inf
            i = int(np.argmax(gain))
            chosen.append((ids[i], float(gain[i])))
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
        per: dict[str, int] = {}
        rows = self.backend.fetch([c for c, _ in ranked[: max(k * (cap + 4), 200)]])
        for cid, score in ranked:
            row = rows.get(cid) or self.backend.fetch([cid])[cid]
            a = row.chunk.article_id
            if per.get(a, 0) < cap:
                per[a] = per.get(a, 0) + 1
                taken.append((cid, score))
                if len(taken) == k:
                    return taken
            else:
                spill.append((cid, score))
        return taken + spill[: k - len(taken)]


def _unit(x: np.ndarray) -> np.ndarray:
    """Scaled so that the largest value is 1 (all zeros stay zeros)."""
    top = float(x.max()) if len(x) else 0.0
    return x / top if top > 0 else x
