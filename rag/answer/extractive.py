"""The default answerer: no LLM, the answer is sentences quoted verbatim from the retrieved passages.

The fitted selection below answers questions as long as those its models were fitted on; shorter ones go to
the support selection (`rag.answer.support`) unless `Settings.answer_selection` forces one (`answer`).

    Hits ──rag.answer.evidence──▶ every sentence: p(evidence), for the whole question and for each part
         ──rag.answer.articles──▶ every retrieved article: p(it answers the question)
         ──refuse, or select: one sentence from each article that answers (best first), the one for the part
           of the question it answers best; no near-duplicates; within a length budget
         ──each quote grows by the sentence after it when that one is evidence too ("X was blunt." + the quote),
           and by the sentence before it when it speaks of a person by pronoun (who "he" is)
         ──rag.answer.short: for who/which questions, the name the passages agree on, cited
         ──▶ Answer text (short answer first, then quotes grouped by outlet, [n] after each) + Citations

It refuses, citing nothing, when no sentence holds any term of the question, when no article reaches the fitted
refusal threshold (`Settings.refusal_threshold` overrides it), when the question names something the corpus
never mentions (see `missing_names`), or a source the corpus has no articles from. The models and thresholds
are fitted on data (bench/fit_answer.py, docs/evaluation.md "Answers") and live in `selection_weights.json`
beside this file (`rag.answer.weights`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from rag.answer import articles, short
from rag.answer.articles import ArticleEvidence
from rag.answer.base import CorpusStats
from rag.answer.evidence import FEATURES, Candidate, Question, adjacent, candidates, carried_terms, describe
from rag.answer.weights import Logistic, Weights, default_weights
from rag.config import Settings
from rag.text.asks import asks_why
from rag.text.names import names_in, sentence_names
from rag.text.outlets import without_outlets
from rag.text.sentences import opens_quotation
from rag.text.tokens import PERSONAL, Token, tokenize, word_tokens
from rag.types import Answer, Citation, Hit, HitSpan, SearchQuery

REFUSAL = "The articles in this corpus do not answer that question."

#: Sentences embedded per answer when the index stores no sentence vectors (built before they were stored:
#: `rag index --rebuild` adds them). Each costs ~7-15 ms on a 2-core machine (int8 ONNX, ~35 tokens), so only
#: the best few by the cheap (lexical) score.
EMBED_TOP = 6
#: A quote is at most this many sentences (the chosen one, the one completing it, an adjacent chosen one).
MAX_QUOTE_SENTENCES = 3
#: Two quotes this close in meaning (cosine of their embeddings) say the same thing; the second is dropped.
#: 0.92: wire copy reprinted by two outlets scores 0.95-1.0, two sentences on one subject 0.6-0.85.
NEAR_DUPLICATE_COSINE = 0.92


def missing_names(question: str, retriever: CorpusStats) -> list[str]:
    """Names in the question (capitalised, not sentence-initial) that no indexed text contains at all.

    A question about "the 2025 Super Bowl" or "the GDP of Honduras" asked of a corpus that never mentions the
    Super Bowl or GDP cannot be answered from it, however similar some passage looks. Outlet names are
    excluded: questions often name the outlet, and filtering by it is the retriever's job.
    """
    outlets = {t for o in retriever.outlets for t in tokenize([o])[0]}
    missing = []
    for name, initial in sentence_names(question):
        # Sentence-initial words are capitalised anyway; only acronyms count there.
        if initial and not name.isupper():
            continue
        # Each capitalised word of a name must occur somewhere ("GDP of Honduras": GDP never does).
        words = [w for w in name.split() if w[:1].isupper()]
        unknown = [
            w
            for w in words
            if (terms := [t for t in tokenize([w])[0] if t not in outlets])
            and not any(retriever.knows(t) for t in terms)
        ]
        if unknown:
            missing.append(" ".join(unknown))
    return missing


def question_of(question: str, query: SearchQuery, outlets: Sequence[str]) -> Question:
    """The question as the evidence model sees it: its words (and the search's), its parts, named outlets."""
    # A follow-up's search text is the question and the words carried from earlier turns ("What is his job?
    # Stephen Miller…"): without them the evidence model would look for "job" alone.
    text = query.text if question in query.text else f"{question} {query.text}"
    parts = [sq.text for sq in query.subqueries if sq.kind == "part"] or [text]
    named = named_outlets(query, outlets)
    ranges = tuple(dict.fromkeys((sq.since, sq.until) for sq in query.subqueries if sq.since or sq.until))
    names = tuple(without_outlets(names_in(word_tokens(text), question=True), outlets))
    return Question(text, parts, named, ranges, names, carried_terms(question, text, outlets))


def named_outlets(query: SearchQuery, outlets: Sequence[str]) -> frozenset[str]:
    """The outlets the question names as sources ("What did Dawn say…") or the search was narrowed to (a filter,
    "What about the other outlets?"); none when the search covers every outlet."""
    named = {o for sq in query.subqueries if sq.kind == "source" for o in sq.outlets}
    named |= set(query.outlets) if len(query.outlets) < len(outlets) else set()
    return frozenset(named)


def rank_sentences(
    question: str,
    query: SearchQuery,
    hits: list[Hit],
    retriever: CorpusStats,
    model: Logistic | None = None,
    q: Question | None = None,
) -> list[Candidate]:
    """Every sentence of the hits with the sentence model's probabilities, best first (`q`: `question_of` the
    question, when the caller has it already)."""
    model = model or default_weights().sentences
    bodies = {h.article.id: retriever.body(h.article.id) for h in hits}
    cands = candidates(hits, bodies, retriever.repeated)
    embedder = retriever.embedder
    encode = embedder.encode_queries if embedder is not None else None
    q = q or question_of(question, query, retriever.outlets)
    stored = retriever.sentences(sorted({h.chunk.id for h in hits}))
    describe(q, cands, retriever.idf, encode, model, EMBED_TOP, stored)
    cands.sort(key=lambda c: (-c.p, c.rank, c.start))
    return cands


@dataclass(frozen=True, slots=True)
class Limits:
    """How much an answer may quote (from `Settings`)."""

    sentences: int = 4
    chars: int = 700
    short_answer: bool = True
    refuse_below: float | None = None  # None: the fitted threshold

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        return cls(settings.answer_sentences, settings.answer_chars, settings.short_answer, settings.refusal_threshold)


def decide(
    question: str,
    q: Question,
    cands: list[Candidate],
    n_hits: int,
    outlets: Sequence[str],
    weights: Weights,
    limits: Limits,
    said: str = "",
) -> tuple[list[list[Candidate]], short.ShortAnswer | None] | None:
    """The quotes (and the short answer) for scored candidates, or None to refuse: the articles that answer,
    one quote from each, each grown by the sentence that completes it, then the name a who/which asks for."""
    th = weights.thresholds
    ctx = FEATURES.index("lex_ctx")
    if not any(c.x[ctx] > 0 for c in cands):
        # No sentence (with its neighbours) holds a single term of the question: however the retrieved articles
        # compare with each other (the article signals are partly relative), none of them is about it.
        return None
    arts = articles.score(articles.gather(q, cands, n_hits), weights.articles)
    if not arts or arts[0].p < (th["refuse"] if limits.refuse_below is None else limits.refuse_below):
        return None
    chosen = select(arts, th, limits.sentences, limits.chars)
    groups = with_neighbours(chosen, cands, th["neighbour"], said, asks_why(question))
    found = None
    if limits.short_answer:
        found = short.short_answer(question, groups, cands, outlets, weights.names, th["name"])
    if found is not None:
        groups += [g for g in found.groups if g not in groups]
    return groups, found


def answer(
    question: str,
    query: SearchQuery,
    hits: list[Hit],
    retriever: CorpusStats,
    settings: Settings,
) -> Answer:
    """Build the extractive answer for `question` from `hits` (already retrieved for `query`): the refusals
    by rule here, then the quotes by the configured selection (`Settings.answer_selection`)."""
    base = Answer(
        question=question,
        text=REFUSAL,
        citations=[],
        refused=True,
        search_query=query.text,
        filters={"outlets": query.outlets, "since": query.since, "until": query.until, "notes": query.notes},
        hits=hits,
    )
    if not hits:
        return base
    missing = missing_names(question, retriever)
    if missing:
        base.warnings.append("not mentioned anywhere in the corpus: " + ", ".join(missing))
        return base
    if query.unknown_sources:
        # "According to a Bloomberg article…" asked of a corpus with no Bloomberg articles: whatever other
        # outlets say, it is not what that source said (MultiHop-RAG's unanswerable questions are mostly these).
        base.warnings.append("the corpus has no articles from: " + ", ".join(query.unknown_sources))
        return base
    weights = default_weights()
    selection = settings.answer_selection
    if selection == "auto":
        selection = "fitted" if weights.in_domain(question) else "support"
    if selection == "support":
        from rag.answer import support

        return support.answer_from(base, question, query, hits, retriever, settings)
    q = question_of(question, query, retriever.outlets)
    cands = rank_sentences(question, query, hits, retriever, weights.sentences, q)
    decided = decide(question, q, cands, len(hits), retriever.outlets, weights, Limits.of(settings), query.said)
    if decided is None:
        return base
    return compose(base, *decided, {h.article.id: retriever.body(h.article.id) for h in hits})


def _duplicate(c: Candidate, chosen: Sequence[Candidate]) -> bool:
    """Same span of the same article, or (embedded) nearly the same words as a quote already taken."""
    for o in chosen:
        if o.article_id == c.article_id and o.start < c.end and c.start < o.end:
            return True
        if c.vector is not None and o.vector is not None and float(c.vector @ o.vector) >= NEAR_DUPLICATE_COSINE:
            return True
    return False


def select(arts: Sequence[ArticleEvidence], thresholds: dict[str, float], limit: int, budget: int) -> list[Candidate]:
    """One sentence from each article that answers (the best first, always; the others when the article model
    says so), in order of the articles' probabilities: the sentence that best answers the part of the question
    the article holds the best evidence for, else its best sentence. No near-duplicate of a quote already
    taken (wire copy in two outlets); once the chosen sentences reach `budget` characters, no more."""
    chosen: list[Candidate] = []
    used = 0
    ctx = FEATURES.index("lex_ctx")
    for i, a in enumerate(arts):
        if len(chosen) >= limit or (i > 0 and a.p < thresholds["article"]):
            break
        if not any(c.x[ctx] > 0 for c in a.sentences):
            continue  # not one term of the question anywhere in what was retrieved of it: not about it
        if i > 0 and a.sentences[0].p < thresholds["support"]:
            continue  # an article on the story, but none of its sentences says what is asked
        part = a.parts_won[0] if a.parts_won else None
        c = a.sentences[0] if part is None else max(a.sentences, key=lambda c: c.p_part[part])
        if _duplicate(c, chosen) or (chosen and used + len(c.text) > budget):
            continue
        chosen.append(c)
        used += len(c.text)
    return chosen


def with_neighbours(
    chosen: Sequence[Candidate], cands: Sequence[Candidate], floor: float, said: str = "", why: bool = False
) -> list[list[Candidate]]:
    """Each chosen sentence as a quote, grown by the sentence after it in its passage when that one is evidence
    too (its probability at least `floor` times the chosen one's: news prose often names the subject in one
    sentence and gives the answer in the next) or completes it (the words after "X said:", a "But…"), merged
    with adjacent chosen sentences; and by the sentence before it when it speaks of a person by pronoun
    (`refers_back`), at most `MAX_QUOTE_SENTENCES` in all. A sentence the previous answer already quoted
    (`said`: its text) grows by the next one whatever its score: a follow-up ("Why did he bring it back?") asks
    for what comes next. So does the first quote of a `why` question: the sentence that matches the question
    best states what it asks about ("Experts have said that using military force is extremely risky."), and
    news prose gives the reason next ("…it would only create more unrest"), in words the question does not use."""
    by_passage: dict[int, list[Candidate]] = {}
    for c in sorted(cands, key=lambda c: (c.rank, c.start)):
        by_passage.setdefault(id(c.hit), []).append(c)
    place = {id(c): (run, i) for run in by_passage.values() for i, c in enumerate(run)}

    def following(c: Candidate) -> Candidate | None:
        """The next sentence of c's passage; after its last, the article's next (`evidence.link_neighbours`)."""
        run, i = place.get(id(c), ([], 0))
        nxt = run[i + 1] if i + 1 < len(run) else c.after
        return nxt if nxt is not None and adjacent(c, nxt) else None

    picked = set(map(id, chosen))
    groups: list[list[Candidate]] = []
    for c in chosen:
        if any(c in g for g in groups):
            continue
        run = by_passage[id(c.hit)]
        group = [c]
        while len(group) < MAX_QUOTE_SENTENCES and (nxt := following(group[-1])) is not None:
            repeated = bool(said) and group[-1].text in said
            reason = why and not groups and len(group) == 1
            if (
                not reason
                and id(nxt) not in picked
                and nxt.p < floor * c.p
                and not completes(" ".join(g.text for g in group), nxt.text)
                and not repeated
            ):
                break
            if any(nxt in g for g in groups) or _duplicate(nxt, [o for o in chosen if o is not c and o is not nxt]):
                break
            group.append(nxt)
        first = run.index(group[0])
        prev = run[first - 1] if first > 0 else group[0].before
        prev = prev if prev is not None and adjacent(prev, group[0]) else None
        if prev is not None and len(group) < MAX_QUOTE_SENTENCES and refers_back(group[0].text):
            others = [o for o in chosen if o is not c]
            if not any(prev in g for g in groups) and id(prev) not in picked and not _duplicate(prev, others):
                group.insert(0, prev)
        groups.append(group)
    return groups


def refers_back(sentence: str) -> bool:
    """Whether `sentence` speaks of a person by pronoun ("he appeared virtually…", "…told her"), or opens with
    one (`opens_with_reference`: "It provides…"): who or what that is is usually named in the sentence before,
    which is then quoted with it. On MultiHop-RAG dev this puts the
    asked-for name in 3.7 points more answers for 45 characters (median), a sixth of what quoting the sentence
    before every quote costs (docs/evaluation.md, "Answers")."""
    return any(t.low in PERSONAL for t in word_tokens(sentence)) or opens_with_reference(sentence)


def opens_with_reference(sentence: str) -> bool:
    """Whether `sentence` opens with a pronoun for its subject ("It provides the bulk of the education…", "She
    declined to comment"): it cannot stand alone, and the sentence before it says who or what that is."""
    toks = word_tokens(sentence)
    return bool(toks) and toks[0].low in _OPENING_REFERENCES and not _expletive(toks)


_OPENING_REFERENCES = PERSONAL | frozenset("it its they their this these".split())


def _expletive(toks: list[Token]) -> bool:
    """ "It is unclear whether…", "It was a week after…", "It all began in February": an opening "it" that
    points at nothing before."""
    expletive_next = {"is", "was", "has", "had", "will", "would", "'s", "all"}
    return toks[0].low == "it" and len(toks) > 1 and toks[1].low in expletive_next


#: A sentence opening with a quotation mark or one of these words carries on from the one before it: a "But…"
#: qualifies it, a "First…" starts the list it announces ("…a broader, three-step strategy. First comes…").
_CONTINUES = re.compile(r"^(?:[\"“‘']|(?:But|However|Yet|Still|Instead|First|Firstly|Second|Secondly)\b)")


def completes(sentence: str, following: str) -> bool:
    """Whether `following` completes `sentence` as one statement: the words after "X was blunt:" or "X said."
    (a quotation), the rest of a quotation `sentence` opens (`opens_quotation`), a "But…" that qualifies it, or
    the "First…" of a list it announces.
    Such a sentence rarely repeats the question's words, so the evidence model alone would leave it out, although
    it often holds the answer."""
    return sentence.rstrip().endswith(":") or opens_quotation(sentence) or bool(_CONTINUES.match(following.lstrip()))


def quote_citation(n: int, group: Sequence[HitSpan], body: str) -> Citation:
    """The citation of one quote: its sentences' span, cut from the article `body` (`body[start:end] == quote`).
    It starts in the first sentence's passage and may run past its end into the article's next sentences."""
    first, last = group[0], group[-1]
    ref = first.hit.article
    return Citation(
        n=n,
        outlet=ref.outlet,
        title=ref.title,
        published=ref.published,
        url=ref.url,
        article_id=ref.id,
        quote=body[first.start : last.end],
        start=first.start,
        end=last.end,
        chunk_id=first.hit.chunk.id,
    )


def compose(
    base: Answer, groups: list[list[Candidate]], found: short.ShortAnswer | None, bodies: dict[str, str]
) -> Answer:
    """The answer text: the short answer (if any) citing the quotes that hold it, then the quotes grouped by
    outlet (the outlet of the best quote first), in article order within an outlet (`bodies`: the quoted
    articles' bodies by id)."""
    order: list[str] = []
    for g in groups:
        if g[0].outlet not in order:
            order.append(g[0].outlet)
    lines: list[str] = []
    citations: list[Citation] = []
    numbers: dict[int, int] = {}
    for outlet in order:
        mine = sorted((g for g in groups if g[0].outlet == outlet), key=lambda g: (g[0].article_id, g[0].start))
        parts = []
        for g in mine:
            citations.append(quote_citation(len(citations) + 1, g, bodies[g[0].article_id]))
            numbers[id(g[0])] = citations[-1].n
            parts.append(f"{citations[-1].quote} [{citations[-1].n}]")
        lines.append(f"{outlet}: " + " ".join(parts))
    if found is not None:
        marks = "".join(f"[{numbers[id(g[0])]}]" for g in found.groups if id(g[0]) in numbers)
        if marks:
            lines.insert(0, f"{found.text} {marks}")
    base.text = "\n".join(lines)
    base.citations = citations
    base.refused = False
    return base
