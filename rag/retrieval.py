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

import calendar
import logging
from collections.abc import Sequence
from datetime import date

import bm25s
import faiss
import numpy as np
import Stemmer

from rag.config import Settings
from rag.embedding import Embedder
from rag.query import Analysis, OutletMatcher, analyse
from rag.store import IndexData
from rag.types import Hit, SearchQuery

_STEMMER = Stemmer.Stemmer("english")
logging.getLogger("bm25s").setLevel(logging.WARNING)  # it logs every index build at DEBUG

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


def _date_bounds(published: str) -> tuple[str, str] | None:
    """First and last day an ISO date or month covers (`2025-09` → 2025-09-01..2025-09-30)."""
    if len(published) >= 10:
        return published[:10], published[:10]
    if len(published) == 7:
        y, m = int(published[:4]), int(published[5:7])
        return f"{published}-01", f"{published}-{calendar.monthrange(y, m)[1]:02d}"
    if len(published) == 4:
        return f"{published}-01-01", f"{published}-12-31"
    return None


def in_date_range(published: str, since: str | None, until: str | None) -> bool:
    """Whether an article's date (day, month or year precision) can fall within [since, until]."""
    if not since and not until:
        return True
    bounds = _date_bounds(published)
    if bounds is None:
        return False  # an undated article cannot satisfy a date filter
    first, last = bounds
    return not ((since and last < since) or (until and first > until))


def _vectors(index: faiss.Index) -> tuple[np.ndarray, np.ndarray]:
    """(ids, vectors) of an IDMap over a flat index, the vectors as a zero-copy view where possible."""
    ids = faiss.vector_to_array(index.id_map).astype(np.int64)
    inner = faiss.downcast_index(index.index)
    if isinstance(inner, faiss.IndexFlat) and inner.ntotal:
        view = faiss.rev_swig_ptr(inner.get_xb(), inner.ntotal * inner.d)
        return ids, np.asarray(view).reshape(inner.ntotal, inner.d)
    return ids, np.vstack([index.reconstruct(int(i)) for i in ids]) if len(ids) else np.zeros((0, index.d), "f4")


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
        # Per-chunk article and outlet numbers, so that filters and caps are array operations.
        article_ids = sorted(index.refs)
        self._article_no = {a: i for i, a in enumerate(article_ids)}
        self.chunk_article = np.fromiter((self._article_no[c.article_id] for c in chunks), dtype=np.int64, count=n)
        self.outlets = sorted({a.outlet for a in index.refs.values()})
        outlet_no = {o: i for i, o in enumerate(self.outlets)}
        self.chunk_outlet = np.fromiter((outlet_no[r.outlet] for r in refs), dtype=np.int64, count=n)
        self.article_dates = [_date_bounds(index.refs[a].published) for a in article_ids]
        self.matcher = OutletMatcher(self.outlets)
        dated = [b[1] for b in self.article_dates if b]
        self.newest = date.fromisoformat(max(dated)) if dated else None

        faiss_ids, vectors = _vectors(index.faiss_index)
        order = np.argsort(faiss_ids)  # faiss row → position in self.ids (both sorted by chunk id)
        self.vectors = vectors[order] if len(order) and not np.array_equal(order, np.arange(n)) else vectors

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
        return analyse(question, self.matcher, self.newest)

    # -- filters -------------------------------------------------------------------------------------

    def mask_for(
        self, outlets: Sequence[str] = (), since: str | None = None, until: str | None = None
    ) -> np.ndarray | None:
        """Boolean mask over `self.ids` for outlet/date filters, or None when nothing is filtered."""
        if not (outlets or since or until):
            return None
        mask = np.ones(len(self.ids), dtype=bool)
        if outlets:
            wanted = {o.casefold() for o in outlets}
            nos = [i for i, o in enumerate(self.outlets) if o.casefold() in wanted]
            mask &= np.isin(self.chunk_outlet, nos)
        if since or until:
            ok = [
                i
                for i, b in enumerate(self.article_dates)
                if b is not None and not ((since and b[1] < since) or (until and b[0] > until))
            ]
            mask &= np.isin(self.chunk_article, ok)
        return mask

    def allowed_mask(self, query: SearchQuery) -> np.ndarray | None:
        """The mask of the filters the user set (outlets, dates), or None when nothing is filtered."""
        return self.mask_for(query.outlets, query.since, query.until)

    # -- one ranked search -----------------------------------------------------------------------------

    def _ranked(self, qvec: np.ndarray, cosines: np.ndarray, text: str, mask: np.ndarray | None) -> dict[int, float]:
        """RRF of the dense and BM25 top-N positions within `mask`."""
        s = self.settings
        n = min(s.candidates, len(self.ids))
        dense = np.where(mask, cosines, -np.inf) if mask is not None else cosines
        top_d = np.argpartition(-dense, n - 1)[:n]
        top_d = top_d[np.argsort(-dense[top_d], kind="stable")]
        top_d = top_d[np.isfinite(dense[top_d])]
        tokens = tokenize([text])[0]
        if tokens:
            lex = self.bm25.get_scores(tokens)
            if mask is not None:
                lex = np.where(mask, lex, 0.0)
            top_l = np.argpartition(-lex, n - 1)[:n]
            top_l = top_l[np.argsort(-lex[top_l], kind="stable")]
            top_l = top_l[lex[top_l] > 0]
        else:
            top_l = np.zeros(0, dtype=np.int64)
        return _rrf([top_d, top_l], [s.dense_weight, s.bm25_weight], s.rrf_k)

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
        subs = query.subqueries if s.subquery_weight > 0 else []
        texts = [query.text] + [sq.text if s.subquery_clause else query.text for sq in subs]
        unique = list(dict.fromkeys(texts))
        vecs = self.embedder.encode(unique, batch_size=len(unique)) if len(unique) > 1 else None
        if vecs is None:
            vecs = self.embedder.encode_query(query.text)
        qvecs = vecs[[unique.index(t) for t in texts]]
        cosines = self.vectors @ qvecs.T  # (chunks, queries): exact cosine of every chunk to every query
        fused = self._ranked(qvecs[0], cosines[:, 0], query.text, mask)
        for j, sq in enumerate(subs, start=1):
            sub_mask = self.mask_for(sq.outlets, sq.since, sq.until) if s.subquery_dates else self.mask_for(sq.outlets)
            if sub_mask is None:
                continue
            if mask is not None:
                sub_mask &= mask
            if not sub_mask.any() and s.subquery_dates and (sq.since or sq.until):
                sub_mask = self.mask_for(sq.outlets)  # a wrong date must not silence the named source
                if mask is not None:
                    sub_mask &= mask
            if not sub_mask.any():
                continue
            for pos, score in self._ranked(qvecs[j], cosines[:, j], texts[j], sub_mask).items():
                fused[pos] = fused.get(pos, 0.0) + s.subquery_weight * score
        ranked = sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))
        top = self._cap(ranked, k)
        hits = []
        for pos, score in top:
            cid = int(self.ids[pos])
            chunk = self.index.chunks[cid]
            cos = float(cosines[pos, 0])
            hits.append(Hit(chunk, self.index.refs[chunk.article_id], score, dense=cos, bm25=None))
        return hits

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
