"""The extractive answer's selection logic on hand-made candidates: which sentences become quotes, which
neighbour joins a quote, near-duplicates, the length budget, the short answer, and the weights file check."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from rag.answer import articles, evidence, extractive, short, support, weights
from rag.answer.articles import ArticleEvidence
from rag.answer.evidence import Candidate, Question
from rag.answer.weights import Logistic
from rag.types import Answer, ArticleRef, Chunk, Hit

TH = {"article": 0.5, "support": 0.0, "neighbour": 0.4, "name": 0.5, "refuse": 0.1}


def _hit(outlet: str, body: str, rank_id: int = 0) -> Hit:
    ref = ArticleRef(f"https://{outlet.lower()}.example/{rank_id}", outlet, f"{outlet} story", "2026-04-01",
                     f"https://{outlet.lower()}.example/{rank_id}")  # fmt: skip
    return Hit(Chunk(ref.id, 0, len(body), body, id=rank_id), ref, score=1.0, dense=0.5)


def _cands(hit: Hit, probabilities: list[float], parts: int = 1, rank: int = 0) -> list[Candidate]:
    """One candidate per sentence of the hit (sentences split at '. '), with the given probabilities."""
    out, start = [], 0
    body = hit.chunk.text
    for p in probabilities:
        end = body.find(". ", start)
        end = len(body) if end < 0 else end + 1
        # Every signal at 0.5: each sentence shares some of the question's terms.
        x = np.full(len(evidence.FEATURES), 0.5)
        c = Candidate(hit, rank, start, end, body[start:end], x=x, p=p, p_part=np.full(parts, p))
        out.append(c)
        start = end + 1
    return out


def _article(cands: list[Candidate], p: float, parts_won: tuple[int, ...] = ()) -> ArticleEvidence:
    ranked = sorted(cands, key=lambda c: -c.p)
    return ArticleEvidence(ranked[0].article_id, ranked[0].outlet, ranked, np.zeros(0), list(parts_won), p)


def test_each_article_that_answers_is_quoted_once_and_one_that_does_not_is_left_out() -> None:
    a = _cands(_hit("Alpha", "Alpha says the bridge is shut. It rained."), [0.9, 0.1])
    b = _cands(_hit("Beta", "Beta says repairs cost 4 million. Tickets are cheap.", 1), [0.7, 0.2], rank=1)
    c = _cands(_hit("Gamma", "Gamma mentions the bridge in passing. Nothing else.", 2), [0.3, 0.1], rank=2)
    arts = [_article(a, 0.9), _article(b, 0.6), _article(c, 0.2)]
    chosen = extractive.select(arts, TH, limit=4, budget=700)
    assert chosen == [a[0], b[0]]  # one sentence each, the best; Gamma's article is below the threshold


def test_the_best_article_is_quoted_even_below_the_threshold() -> None:
    a = _cands(_hit("Alpha", "Alpha says something. More."), [0.3, 0.1])
    assert extractive.select([_article(a, 0.2)], TH, limit=4, budget=700) == [a[0]]


def test_an_article_holding_the_best_evidence_for_a_part_is_quoted_for_that_part() -> None:
    b = _cands(_hit("Beta", "Beta on the whole question. Beta on the second part.", 1), [0.6, 0.3], parts=2)
    b[1].p_part = np.asarray([0.1, 0.9])
    chosen = extractive.select([_article(b, 0.8, parts_won=(1,))], TH, limit=4, budget=700)
    assert chosen == [b[1]]


def test_near_duplicates_and_the_length_budget_are_respected() -> None:
    a = _cands(_hit("Alpha", "The same wire copy sentence appears. X."), [0.9, 0.1])
    b = _cands(_hit("Beta", "The same wire copy sentence appears. Y.", 1), [0.85, 0.1], rank=1)
    a[0].vector = b[0].vector = np.asarray([1.0, 0.0])
    assert extractive.select([_article(a, 0.9), _article(b, 0.9)], TH, limit=4, budget=700) == [a[0]]
    long = _cands(_hit("Gamma", "G" * 300 + ". Z.", 2), [0.8, 0.1], rank=2)
    assert extractive.select([_article(a, 0.9), _article(long, 0.9)], TH, limit=4, budget=200) == [a[0]]


def test_article_signals_say_which_part_an_article_wins_and_whether_it_is_its_outlets_best() -> None:
    a = _cands(_hit("Alpha", "Alpha on part one. Filler here."), [0.8, 0.1], parts=2)
    a2 = _cands(_hit("Alpha", "Alpha again on part one. Filler.", 3), [0.4, 0.1], parts=2, rank=2)
    b = _cands(_hit("Beta", "Beta on part two. Filler there.", 1), [0.5, 0.1], parts=2, rank=1)
    a[0].p_part, a2[0].p_part, b[0].p_part = np.asarray([0.9, 0.1]), np.asarray([0.5, 0.1]), np.asarray([0.2, 0.7])
    arts = {x.outlet + str(x.sentences[0].rank): x for x in articles.gather(Question("q", ["p1", "p2"]), a + a2 + b, 8)}
    f = articles.FEATURES.index
    assert arts["Alpha0"].parts_won == [0] and arts["Beta1"].parts_won == [1] and arts["Alpha2"].parts_won == []
    assert arts["Alpha0"].x[f("best_of_outlet")] == 1.0 and arts["Alpha2"].x[f("best_of_outlet")] == 0.0
    assert arts["Alpha0"].x[f("same_outlet")] == 2.0 and arts["Beta1"].x[f("rel_p")] == pytest.approx(0.5 / 0.8)
    assert all(x.x[f("polar_second")] == 0.0 for x in arts.values())  # "q" asks no yes/no
    polar = {x.outlet + str(x.sentences[0].rank): x
             for x in articles.gather(Question("Did Alpha report it?", ["p1", "p2"]), a + a2 + b, 8)}  # fmt: skip
    # A yes/no question: Alpha's second article is marked, its best one and Beta's (alone in its outlet) are not.
    assert [polar[k].x[f("polar_second")] for k in ("Alpha0", "Alpha2", "Beta1")] == [0.0, 1.0, 0.0]


def test_the_sentence_after_a_quote_joins_it_only_when_it_is_evidence_too() -> None:
    cands = _cands(_hit("Alpha", "Asked about it, the mayor was blunt. It stays shut until spring. Unrelated."),
                   [0.9, 0.5, 0.1])  # fmt: skip
    groups = extractive.with_neighbours([cands[0]], cands, floor=0.4)
    assert groups == [[cands[0], cands[1]]]
    groups = extractive.with_neighbours([cands[0]], cands, floor=0.6)
    assert groups == [[cands[0]]]


# A body of two passages: the first ends on a claim, the second opens with the "But…" that qualifies it.
_CLAIM = "The pause in attacks, the minister said, was evidence of the strategy's success."
_BUT = "But that break notably came as the US surged assets to the Middle East."
_BODY = f"Officials spoke on Thursday about the campaign. {_CLAIM} {_BUT} Other news followed later on."


def _first_passage() -> Hit:
    """A hit on the first passage only (up to the claim): the "But…" sentence is outside it."""
    ref = ArticleRef("a1", "Alpha", "Alpha story", "2026-03-05", "https://alpha.example/1")
    end = _BODY.index(_CLAIM) + len(_CLAIM)
    return Hit(Chunk(ref.id, 0, end, _BODY[:end], id=7), ref, score=1.0, dense=0.5)


def test_a_quote_ending_its_passage_is_completed_from_the_article() -> None:
    hit = _first_passage()
    cands = evidence.candidates([hit], {"a1": _BODY})
    claim = next(c for c in cands if c.text == _CLAIM)
    assert claim.after is not None and claim.after.text == _BUT and claim.after not in cands  # linked, not listed
    claim.p = 0.9
    assert [g.text for g in extractive.with_neighbours([claim], cands, floor=0.4)[0]] == [_CLAIM, _BUT]
    base = Answer("Why did the strikes pause?", extractive.REFUSAL, [], True)
    answer = extractive.compose(base, extractive.with_neighbours([claim], cands, floor=0.4), None, {"a1": _BODY})
    c = answer.citations[0]
    assert c.quote == f"{_CLAIM} {_BUT}" == _BODY[c.start : c.end] and c.end > hit.chunk.end


def test_the_support_selection_completes_a_quote_from_the_article_too() -> None:
    hit = _first_passage()
    cands = support._candidates([hit], {"a1": _BODY})
    claim = next(c for c in cands if c.text == _CLAIM)
    assert [c.text for c in support._completed([claim], cands)] == [_CLAIM, _BUT]
    answer = support._compose(Answer("q", "", [], True), support._completed([claim], cands), {"a1": _BODY})
    assert [c.quote for c in answer.citations] == [f"{_CLAIM} {_BUT}"]
    # A sentence that does not complete it stays out: the article's next one after a plain statement.
    lead = next(c for c in cands if c.text.startswith("Officials"))
    assert support._completed([lead], cands) == [lead]


def test_composed_answer_quotes_exact_spans_and_puts_the_short_answer_first() -> None:
    hit = _hit("Alpha", "Sam Altman returned as chief executive. The board changed.")
    cands = _cands(hit, [0.9, 0.1])
    base = Answer("Who returned?", extractive.REFUSAL, [], True)
    found = short.ShortAnswer("Sam Altman", [[cands[0]]])
    answer = extractive.compose(base, [[cands[0]]], found, {hit.article.id: hit.chunk.text})
    assert answer.text.splitlines()[0] == "Sam Altman [1]"
    c = answer.citations[0]
    assert hit.chunk.text[c.start : c.end] == c.quote == "Sam Altman returned as chief executive."


@pytest.mark.parametrize(
    ("question", "asks"),
    [
        ("Who is the individual behind the fund?", True),
        ("Which company spent billions on search deals?", True),
        ("What entity took on the losses?", True),
        ("What did the mayor say about the bridge?", False),
        ("How many visitors came?", False),
        ("When did the strikes pause?", False),
    ],
)
def test_which_questions_ask_for_a_name(question: str, asks: bool) -> None:
    assert short.asks_for_a_name(question) is asks


def test_the_name_several_passages_agree_on_is_the_short_answer() -> None:
    h1 = _hit("Alpha", "Sam Altman was ousted by the board. Investors were stunned.")
    h2 = _hit("Beta", "The board later reinstated Sam Altman. Employees cheered.", 1)
    h3 = _hit("Gamma", "Mira Murati briefly led the company. Then things changed.", 2)
    cands = _cands(h1, [0.8, 0.1]) + _cands(h2, [0.7, 0.1], rank=1) + _cands(h3, [0.3, 0.1], rank=2)
    coef = np.asarray([3.0, 3.0, 1.0, 1.0, 1.0, 0.0, 0.0])
    model = Logistic(short.NAME_FEATURES, np.zeros(7), np.ones(7), coef, -3.0)
    groups = [[cands[0]], [cands[2]]]
    found = short.short_answer("Who was ousted by the board?", groups, cands, ["Alpha", "Beta"], model, 0.5)
    assert found is not None and found.text == "Sam Altman" and found.groups == groups
    assert short.short_answer("What did the board say?", groups, cands, [], model, 0.5) is None


def test_a_weights_file_for_other_features_is_refused(tmp_path: Path) -> None:
    data = json.loads(weights.WEIGHTS_FILE.read_text(encoding="utf-8"))
    assert weights.read_weights().sentences.coef.shape == (len(evidence.FEATURES),)
    path = tmp_path / "w.json"
    path.write_text(json.dumps(data | {"articles": data["articles"] | {"features": ["best_p"]}}), encoding="utf-8")
    with pytest.raises(weights.WeightsProblem, match="fitted for features"):
        weights.read_weights(path)
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(weights.WeightsProblem, match="cannot read"):
        weights.read_weights(path)


def test_a_sentence_the_previous_answer_gave_grows_by_the_next_one() -> None:
    cands = _cands(_hit("Alpha", "Hegseth restored the medal. It sends a clear message. Unrelated."), [0.9, 0.1, 0.1])
    said = "Alpha: Hegseth restored the medal. [1]"
    assert extractive.with_neighbours([cands[0]], cands, floor=0.6, said=said) == [[cands[0], cands[1]]]
    assert extractive.with_neighbours([cands[0]], cands, floor=0.6) == [[cands[0]]]


def test_support_selection_passes_over_what_was_said_to_the_first_new_sentence() -> None:
    from rag.answer import support

    hit = _hit("Alpha", "Hegseth called Mexico. The officials were shocked and angered. They extradited 29. Other.")
    body = hit.chunk.text
    spans = [(0, 22), (23, 62), (63, 79)]
    cands = [support.Candidate(hit, s, e, body[s:e]) for s, e in spans]
    said = "Alpha: Hegseth called Mexico. The officials were shocked and angered. [1]"
    assert support._past_said([cands[0]], cands, said, 4) == cands
    assert support._past_said([cands[0]], cands, "", 4) == [cands[0]]


def test_a_quote_speaking_of_a_person_by_pronoun_is_quoted_with_the_sentence_naming_them() -> None:
    body = "Sam Bankman-Fried spoke at the summit. He said he never tried to commit fraud. The panel moved on."
    cands = _cands(_hit("Alpha", body), [0.1, 0.9, 0.1])
    assert extractive.with_neighbours([cands[1]], cands, floor=5.0) == [[cands[0], cands[1]]]
    # No pronoun: the quote stands alone; and the sentence before is never taken twice.
    plain = _cands(_hit("Beta", "The summit opened. Fraud was the topic. The panel moved on."), [0.1, 0.9, 0.1])
    assert extractive.with_neighbours([plain[1]], plain, floor=5.0) == [[plain[1]]]
    assert extractive.with_neighbours([cands[0], cands[1]], cands, floor=5.0) == [[cands[0], cands[1]]]


def test_the_forms_of_one_name_count_for_its_shortest_full_form() -> None:
    h1 = _hit("Alpha", "OpenAI CEO Sam Altman spoke. The board listened.")
    h2 = _hit("Beta", "The board reinstated Sam Altman. Altman thanked staff.", 1)
    h3 = _hit("Gamma", "Tesla CEO Elon Musk objected. Nobody listened.", 2)
    cands = _cands(h1, [0.5, 0.1]) + _cands(h2, [0.5, 0.1], rank=1) + _cands(h3, [0.5, 0.1], rank=2)
    names = {n.text: n for n in short.name_candidates("Who spoke?", [], cands, ["Alpha", "Beta", "Gamma"])}
    assert "Sam Altman" in names and not {"OpenAI CEO Sam Altman", "Altman"} & set(names)
    f = short.NAME_FEATURES.index
    assert names["Sam Altman"].x[f("articles")] == pytest.approx(2 / 3)
    assert "CEO Elon Musk" in names  # no shorter full form of it in the passages


def test_a_short_name_that_opens_one_longer_name_counts_for_it_and_not_when_it_opens_two() -> None:
    h1 = _hit("Alpha", "The lenders to Alameda Research waited. The funds were gone.")
    h2 = _hit("Beta", "The loss was moved to Alameda in June. The auditors missed it.", 1)
    cands = _cands(h1, [0.5, 0.1]) + _cands(h2, [0.5, 0.1], rank=1)
    names = {n.text: n for n in short.name_candidates("Which firm?", [], cands, ["Alpha", "Beta"])}
    assert "Alameda Research" in names and "Alameda" not in names
    assert names["Alameda Research"].x[short.NAME_FEATURES.index("articles")] == 1.0
    assert {c.text for c in names["Alameda Research"].holders} >= {"The loss was moved to Alameda in June."}
    h3 = _hit("Gamma", "The derby saw Manchester United beat Manchester City. Fans in Manchester sang.", 2)
    names = {n.text for n in short.name_candidates("Which club?", [], _cands(h3, [0.5, 0.1]), ["Gamma"])}
    assert {"Manchester United", "Manchester City", "Manchester"} <= names


def test_a_name_counts_as_in_a_title_only_within_one_title() -> None:
    def titled(hit: Hit, title: str) -> Hit:
        return dataclasses.replace(hit, article=dataclasses.replace(hit.article, title=title))

    h1 = _hit("Alpha", "The panel heard Sam Altman. The board listened.")
    h2 = _hit("Beta", "Then Altman returned.", 1)
    f = short.NAME_FEATURES.index("in_title")
    # Joined, the two titles would read "…the CEO Sam Altman returns": the name is in neither.
    cands = _cands(titled(h1, "Interview with the CEO Sam"), [0.5, 0.1]) + _cands(titled(h2, "Altman returns"), [0.5])
    names = {n.text: n for n in short.name_candidates("Who spoke?", [], cands, ["Alpha", "Beta"])}
    assert names["Sam Altman"].x[f] == 0.0
    cands = _cands(titled(h1, "Sam Altman speaks"), [0.5, 0.1]) + _cands(h2, [0.5])
    names = {n.text: n for n in short.name_candidates("Who spoke?", [], cands, ["Alpha", "Beta"])}
    assert names["Sam Altman"].x[f] == 1.0


def test_a_follow_ups_own_words_pick_its_sentence_and_the_carried_words_count_less(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """ "What was that program called?" after the Activision payment: the carried "Activision Blizzard keep"
    find the passage, the question's own "program called" pick the sentence in it."""
    from rag.answer import support
    from rag.types import Article, SearchQuery

    from .helpers import memory_retriever

    body = (
        "Google paid Activision Blizzard to keep its games on Google Play, Epic says. "
        "One such program was called Project Hug by the company."
    )
    others = [
        Article(f"https://other.example/{i}", "Beta", "Other", "2026-04-01", "", text)
        for i, text in enumerate(["Fans keep playing the games.", "The program was delayed.", "Play resumed today."])
    ]
    art = Article("https://alpha.example/1", "Alpha", "Epic v. Google", "2026-04-01", "", body)
    corpus = memory_retriever([art, *others])
    hit = Hit(corpus.index.chunks[0], ArticleRef(art.id, art.outlet, art.title, art.published, art.url), 1.0)
    question = "What was that program called?"
    query = SearchQuery(f"{question} Activision Blizzard keep", question)
    best = support.rank_sentences(question, query, [hit], corpus)[0]
    assert best.text.startswith("One such program")
    monkeypatch.setattr(evidence, "CARRIED_SHARE", 1.0)  # carried words weighed as the question's own
    assert support.rank_sentences(question, query, [hit], corpus)[0].text.startswith("Google paid")
    # A question that says nothing itself ("What did Alpha say?") is picked by what it carried.
    query = SearchQuery("Activision Blizzard keep", "What did Alpha say?")
    monkeypatch.setattr(evidence, "CARRIED_SHARE", 0.3)
    assert support.rank_sentences("What did Alpha say?", query, [hit], corpus)[0].text.startswith("Google paid")


def test_a_why_question_quotes_the_sentence_after_the_one_stating_what_it_asks_about() -> None:
    from rag.answer import support
    from rag.text.asks import asks_why

    hit = _hit("Alpha", "Experts say force is risky. It would create more unrest. Other news.")
    body = hit.chunk.text
    cands = [support.Candidate(hit, s, e, body[s:e]) for s, e in [(0, 27), (28, 56), (57, 68)]]
    assert support._with_reason([cands[0]], cands) == [cands[0], cands[1]]
    assert support._with_reason([cands[2]], cands) == [cands[2]]  # nothing after it in its passage
    assert asks_why("And why do experts think it is risky?") and not asks_why("Who said it is risky?")


def test_a_questions_own_terms_leave_out_the_outlets_it_names_and_only_those() -> None:
    from rag.types import Article

    from .helpers import memory_retriever

    outlets = ("Fortune", "The Age")
    corpus = memory_retriever(
        [Article(f"https://{o}.example", o, "t", "2026-04-01", "", "His fortune.") for o in outlets]
    )
    question = "What did The Age say about his fortune?"
    # "fortune" is the question's own (not carried); nothing is carried when only an outlet is named.
    assert evidence.carried_terms(question, f"{question} Rinehart", corpus.outlets) == {"rinehart"}
    assert evidence.carried_terms("What did The Age say?", "The Age Rinehart", corpus.outlets) == frozenset()


def test_a_sentence_is_picked_by_the_topic_not_by_the_outlet_named_or_the_verbs_asking_for_a_report() -> None:
    question = "What did The Age quote Miller saying about lawyers?"
    unasked = evidence.unasked_terms(question, ("Fortune", "The Age"))
    assert {"age", "quot", "say"} <= unasked and not {"miller", "lawyer"} & unasked
    weights = {"age": 2.0, "quot": 3.0, "say": 2.0, "miller": 1.5, "lawyer": 2.5}
    assert evidence.picking(weights, frozenset({"miller"}), unasked) == {"miller": 1.5 * evidence.CARRIED_SHARE,
                                                                          "lawyer": 2.5}  # fmt: skip
    # A question of nothing but those words keeps them: something must pick the sentence.
    assert evidence.picking({"say": 2.0}, frozenset(), unasked) == {"say": 2.0}


def test_a_why_question_grows_its_first_quote_by_the_next_sentence_whatever_its_score() -> None:
    cands = _cands(
        _hit("Alpha", "Experts say force is risky. It would create more unrest. Unrelated."), [0.9, 0.01, 0.01]
    )
    assert extractive.with_neighbours([cands[0]], cands, floor=0.6, why=True) == [[cands[0], cands[1]]]
    assert extractive.with_neighbours([cands[0]], cands, floor=0.6) == [[cands[0]]]
    other = _cands(_hit("Beta", "Beta agrees it is risky. Beta adds more.", 1), [0.8, 0.01], rank=1)
    # Only the first quote: the others are versions of the claim, not its reason.
    groups = extractive.with_neighbours([cands[0], other[0]], [*cands, *other], floor=0.6, why=True)
    assert groups == [[cands[0], cands[1]], [other[0]]]


def test_the_evidence_model_sees_a_follow_ups_carried_words_at_a_lower_weight() -> None:
    from rag.types import SearchQuery

    question = "What is his job?"
    query = SearchQuery(f"{question} Stephen Miller conference", question)
    q = extractive.question_of(question, query, ["Dawn"])
    assert "Stephen Miller" in q.text  # not "job" alone
    assert q.carried == {"stephen", "miller", "confer"}
    # A question asked alone carries nothing.
    alone = "What did Stephen Miller say at the conference?"
    assert extractive.question_of(alone, SearchQuery(alone, alone), ["Dawn"]).carried == frozenset()


def test_auto_selection_uses_the_fitted_models_only_for_questions_as_long_as_their_fit_half() -> None:
    fitted = weights.read_weights()
    assert fitted.min_question_terms >= 10  # MultiHop-RAG's questions
    assert not fitted.in_domain("How big is the Steam Deck OLED's screen?")
    long = ("Which company, reported by TechCrunch and The Verge in late 2023 for its antitrust trial over app store "
            "payments, lost a jury verdict to Epic Games over Android app distribution?")  # fmt: skip
    assert fitted.in_domain(long)
    assert dataclasses.replace(fitted, min_question_terms=0).in_domain("Why?")


def test_auto_selection_sends_a_short_question_to_the_support_selection(monkeypatch: pytest.MonkeyPatch) -> None:
    from rag.answer import support
    from rag.config import Settings
    from rag.types import Article, SearchQuery

    from .helpers import memory_retriever

    body = ("Stephen Miller told military leaders in Miami that drug cartels can only be defeated "
            "with military force at the counter cartel conference on Thursday.")  # fmt: skip
    art = Article("https://alpha.example/1", "Alpha", "Miller in Miami", "2026-03-06", "", body)
    corpus = memory_retriever([art])
    ref = ArticleRef(art.id, art.outlet, art.title, art.published, art.url)
    hits = [Hit(c, ref, score=1.0, dense=0.6) for c in corpus.index.chunks.values()]
    used: list[str] = []
    real = support.answer_from
    monkeypatch.setattr(support, "answer_from", lambda *a: used.append(a[1]) or real(*a))
    short_q = "What did Miller say about cartels?"
    long_q = ("What did Stephen Miller tell the military leaders gathered in Miami on Thursday at the counter cartel "
              "conference about how drug cartels can be defeated?")  # fmt: skip
    for q in (short_q, long_q):
        got = extractive.answer(q, SearchQuery(q, q), hits, corpus, Settings(answer_selection="auto"))
        assert not got.refused and got.citations[0].quote in body
    assert used == [short_q]
    extractive.answer(long_q, SearchQuery(long_q, long_q), hits, corpus, Settings(answer_selection="support"))
    assert used == [short_q, long_q]


def test_support_selection_quotes_the_named_outlets_each_at_half_the_best_score() -> None:
    from rag.answer import support

    def cand(outlet: str, value: float, n: int) -> support.Candidate:
        hit = _hit(outlet, f"{outlet} reports on the strikes.", n)
        text = hit.chunk.text
        return support.Candidate(hit, 0, len(text), text, support=value, score=value, own=0.5, rank=n)

    best, dawn, evrim = cand("Truthout", 0.28, 0), cand("Dawn", 0.15, 1), cand("Evrim", 0.15, 2)
    # Not named: another outlet needs 0.85 of the best to stand beside it.
    assert support._select([best, dawn, evrim], limit=4) == [best]
    # "And the other outlets?" narrowed the search to Dawn and Truthout: Dawn's version is asked for.
    assert support._select([best, dawn, evrim], limit=4, named=frozenset({"Dawn", "Truthout"})) == [best, dawn]
    weak = cand("Dawn", 0.10, 3)
    both = frozenset({"Dawn", "Truthout"})
    assert support._select([best, weak], limit=4, named=both) == [best]  # under half the best
    # "What did Dawn say…?": Dawn's best sentence is the answer, Truthout's closer wording is not quoted.
    assert support._select([best, dawn, evrim], limit=4, named=frozenset({"Dawn"})) == [dawn]


def _support_corpus(body: str):  # noqa: ANN202 - a Retriever
    from rag.types import Article

    from .helpers import memory_retriever

    art = Article("https://alpha.example/1", "Alpha", "The strikes", "2026-03-06", "", body)
    corpus = memory_retriever([art])
    ref = ArticleRef(art.id, art.outlet, art.title, art.published, art.url)
    return corpus, [Hit(c, ref, score=1.0, dense=0.5) for c in corpus.index.chunks.values()]


def test_support_ranks_the_sentence_holding_the_asked_kind_of_answer_first() -> None:
    from rag.answer import support
    from rag.types import SearchQuery

    body = "The boats were struck off the coast of Venezuela. The boats were struck 44 times."
    corpus, hits = _support_corpus(body)
    q = "How many boats were struck?"
    ranked = support.rank_sentences(q, SearchQuery(q, q), hits, corpus)
    assert ranked[0].text == "The boats were struck 44 times."
    assert ranked[0].support == pytest.approx(ranked[1].support)  # the same words: only the kind tells them apart
    q = "Where were the boats struck?"  # asks for a name: Venezuela
    assert support.rank_sentences(q, SearchQuery(q, q), hits, corpus)[0].text.endswith("Venezuela.")


def test_support_ranks_by_the_sentence_vectors_match_to_the_questions_own_words() -> None:
    """A follow-up's carried words find the passage; the sentence whose stored vector is nearest the question's
    own words ("What does it cost?" → "…price tag") ranks first (a scripted encoder stands in for the model)."""
    from rag.answer import support
    from rag.sentence_vectors import SentenceVectors
    from rag.types import SearchQuery

    body = "The Cybertruck launched with a big event. The Cyberbeast has a $99,990 price tag, the company says."
    corpus, hits = _support_corpus(body)
    first_end = body.index(".") + 1
    spans = [(0, first_end), (first_end + 1, len(body))]
    vectors = np.array([[1.0, 0, 0, 0], [0, 1.0, 0, 0]], dtype=np.float32)

    class Encoder:
        def __init__(self) -> None:
            self.seen: list[str] = []

        def encode_queries(self, texts: list[str]) -> np.ndarray:
            self.seen += texts
            return np.array([[0, 1.0, 0, 0]] * len(texts), dtype=np.float32)  # "cost" is near "price tag"

    class Corpus:
        def __init__(self) -> None:
            self.embedder = Encoder()

        def __getattr__(self, name: str):  # noqa: ANN204 - idf, knows, body, outlets from the real retriever
            return getattr(corpus, name)

        def sentences(self, chunk_ids: list[int]) -> SentenceVectors:
            return SentenceVectors.of(hits[0].chunk.id, spans, vectors)

    q, search = "What does it cost?", "What does it cost? Cybertruck launched event"  # asks no kind
    stats = Corpus()
    ranked = support.rank_sentences(q, SearchQuery(q, search), hits, stats)
    assert ranked[0].text.startswith("The Cyberbeast")
    assert stats.embedder.seen == [q]  # the question's own words, not the search text
    plain = support.rank_sentences(q, SearchQuery(q, search), hits, corpus)  # no vectors: the support decides
    assert plain[0].text.startswith("The Cybertruck launched")


QUOTED = "“We will not come with the military. There will be no invasion. It is ruled out,” she said. Other news."


def test_a_quote_that_opens_a_quotation_runs_on_to_its_closing_mark() -> None:
    from rag.answer import support
    from rag.text.sentences import opens_quotation, sentence_spans

    assert opens_quotation("“We will not come with the military.") and opens_quotation('He said "we will')
    assert not opens_quotation("“It is ruled out,” she said.") and not opens_quotation("General “Black Jack” came.")
    # The fitted selection: the opening sentence grows to the closing mark, whatever the others' scores.
    cands = _cands(_hit("Alpha", QUOTED), [0.9, 0.01, 0.01, 0.01])
    assert extractive.with_neighbours([cands[0]], cands, floor=0.6) == [cands[:3]]
    # The support selection the same, and a sentence with no open quotation stays alone.
    hit = _hit("Alpha", QUOTED)
    body = hit.chunk.text
    sup = [support.Candidate(hit, s, e, body[s:e]) for s, e in sentence_spans(body)]
    assert [c.text for c in sup][1:3] == ["There will be no invasion.", "It is ruled out,” she said."]
    assert support._completed([sup[0]], sup) == sup[:3]
    assert support._completed([sup[3]], sup) == [sup[3]]


def test_another_outlets_version_must_hold_the_kind_asked_for_and_some_of_the_questions_terms() -> None:
    from rag.answer import support

    def cand(outlet: str, score: float, holds: bool | None, own: float, n: int) -> support.Candidate:
        hit = _hit(outlet, f"{outlet} sentence.", n)
        return support.Candidate(hit, 0, len(hit.chunk.text), hit.chunk.text, score=score, own=own, holds=holds)

    best = cand("Alpha", 1.0, True, 0.6, 0)
    no_date = cand("Beta", 0.95, False, 0.2, 1)  # "…the 18th and 19th centuries…" for a "When…?"
    no_terms = cand("Gamma", 0.9, True, 0.02, 2)  # "At Thursday's conference…": a date, none of the question
    version = cand("Delta", 0.9, True, 0.3, 3)
    assert support._select([best, no_date, no_terms, version], 4) == [best, version]
    # An outlet the question asks for keeps its version either way; a question asking no kind checks none.
    assert support._select([best, no_date], 4, frozenset({"Alpha", "Beta"})) == [best, no_date]
    plain = cand("Beta", 0.95, None, 0.2, 1)
    assert support._select([best, plain], 4) == [best, plain]


def test_the_support_selection_adds_the_but_that_completes_a_quote_and_only_that_one() -> None:
    from rag.answer import support
    from rag.text.sentences import sentence_spans

    hit = _hit("Alpha", "The pause was a success, he said. But it came as assets moved. “It was luck,” one said. X.")
    body = hit.chunk.text
    sup = [support.Candidate(hit, s, e, body[s:e]) for s, e in sentence_spans(body)]
    assert support._completed([sup[0]], sup) == sup[:2]  # not also the next quotation: a chain, someone else
    assert support._completed([sup[3]], sup) == [sup[3]]


_UNRWA = "Today, UNRWA is the second-largest employer in Gaza, following Hamas."
_IT = "It provides the bulk of the education, food aid and health care services for people in Gaza."


def test_a_quote_opening_with_a_pronoun_is_quoted_with_the_sentence_before_it_even_in_the_previous_passage() -> None:
    body = f"Gaza relies on aid groups for basic services. {_UNRWA} {_IT} The rest is other news."
    ref = ArticleRef("a2", "Fortune", "Gaza", "2023-10-12", "https://fortune.example/gaza")
    start = body.index(_IT)
    hit = Hit(Chunk(ref.id, start, len(body), body[start:], id=3), ref, score=1.0, dense=0.5)  # starts at "It…"
    cands = support._candidates([hit], {"a2": body})
    it = next(c for c in cands if c.text == _IT)
    assert it.before is not None and it.before.text == _UNRWA
    answer = support._compose(Answer("q", "", [], True), support._introduced([it], cands), {"a2": body})
    assert [c.quote for c in answer.citations] == [f"{_UNRWA} {_IT}"]


@pytest.mark.parametrize(
    ("sentence", "opens"),
    [
        (_IT, True),
        ("She declined to comment on the ruling.", True),
        ("It is unclear whether the talks will resume.", False),  # an "it" that points at nothing
        ("The ruling, she said, was final.", False),  # a pronoun, but not the subject the sentence opens with
    ],
)
def test_a_sentence_opening_with_a_pronoun_cannot_stand_alone(sentence: str, opens: bool) -> None:
    assert extractive.opens_with_reference(sentence) is opens


def test_a_quote_without_the_kind_of_answer_asked_grows_by_the_next_sentence_only_when_that_one_has_it() -> None:
    body = ("They joined the club together as young players. They met again years later. "
            "That was in early 2001, in Paris. Nothing more followed after that meeting.")  # fmt: skip
    ref = ArticleRef("a3", "Sky", "Friends", "2023-11-10", "https://sky.example/1")
    hit = Hit(Chunk(ref.id, 0, len(body), body, id=4), ref, score=1.0, dense=0.5)
    cands = support._candidates([hit], {"a3": body})
    for c in cands:
        c.holds = support.holds_kind(c.text, "date")
    met = next(c for c in cands if c.text.startswith("They met"))
    grown = support._with_kind([met], cands, "date", [])
    assert [c.text for c in grown] == [met.text, "That was in early 2001, in Paris."]
    joined = cands[0]  # the next one ("They met again…") holds no date either: nothing is added
    assert support._with_kind([joined], cands, "date", []) == [joined]


@pytest.mark.parametrize(
    ("sentence", "following", "done"),
    [
        ("This new approach is rooted in a broader, three-step strategy.", "First comes the declaration.", True),
        ("The pause, he said, was a success.", "But that break came as assets moved.", True),
        ("Asked about it, the mayor was blunt:", "It stays shut until spring.", True),
        ("The bridge is shut.", "Tickets for the ferry are cheap.", False),
    ],
)
def test_what_completes_a_sentence(sentence: str, following: str, done: bool) -> None:
    assert extractive.completes(sentence, following) is done


def test_the_quantity_word_of_how_is_not_a_term_a_sentence_must_hold() -> None:
    unasked = evidence.unasked_terms("How old is the Mexican Border Defense Medal?", ())
    assert "old" in unasked and "medal" not in unasked
    assert "old" not in evidence.unasked_terms("Who played at Old Trafford?", ())
