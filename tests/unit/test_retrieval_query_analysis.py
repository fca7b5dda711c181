"""Question analysis: corpus outlets, dates and unknown sources named in a question (rag/reading.py, rag/text/)."""

from __future__ import annotations

from datetime import date

from rag.reading import Reading, question_parts, read
from rag.text.dates import find_dates
from rag.text.outlets import OutletMatcher, outlet_aliases, source_names

OUTLETS = [
    "The Verge",
    "TechCrunch",
    "FOX News - Health",
    "FOX News - Lifestyle",
    "The Age",
    "Fortune",
    "CBSSports.com",
    "The New York Times",
    "The Roar | Sports Writers Blog",
]
REF = date(2023, 12, 25)


def analyse(question: str, matcher: OutletMatcher, reference: date | None = None) -> Reading:
    """A question read on its own (no earlier turns)."""
    return read(question, outlets=matcher, reference=reference)


def test_aliases_cover_head_domain_and_article():
    assert outlet_aliases("The Roar | Sports Writers Blog") >= {"The Roar | Sports Writers Blog", "The Roar"}
    assert "FOX News" in outlet_aliases("FOX News - Health")
    assert "CBSSports" in outlet_aliases("CBSSports.com")
    assert "New York Times" in outlet_aliases("The New York Times")
    assert "Age" not in outlet_aliases("The Age")  # a one-word remainder is too common a word


def test_outlets_found_with_their_capitalisation_only():
    m = OutletMatcher(OUTLETS)
    found = m.find("Did Fortune and the TechCrunch report agree, or did it cost a fortune? Ask techcrunch.")
    assert [f.outlets for f in found] == [("Fortune",), ("TechCrunch",)]


def test_longest_name_wins_and_shared_heads_name_every_outlet():
    m = OutletMatcher(OUTLETS)
    assert [f.outlets for f in m.find("The FOX News - Health article")] == [("FOX News - Health",)]
    assert [f.outlets for f in m.find("a FOX News article")] == [("FOX News - Health", "FOX News - Lifestyle")]


def test_outlet_inside_a_word_or_domain_is_not_a_mention():
    m = OutletMatcher(OUTLETS)
    assert m.find("TechCrunchy news") == []
    assert m.find("used by 92% of Fortune 500 companies") == []  # a list named after the outlet
    assert [f.outlets for f in m.find("Fortune reported on 5 October")] == [("Fortune",)]
    assert m.find("see CBSSports.com/nfl") != []  # the full name is the domain itself


def test_full_and_partial_dates():
    dates = find_dates("the report from The Verge on November 7, 2023, and one published on 15 December", REF)
    assert [(d.first, d.since, d.until, d.day) for d in dates] == [
        ("2023-11-07", "2023-11-07", "2023-11-07", True),
        ("2023-12-15", "2023-12-15", "2023-12-15", True),
    ]


def test_relative_phrases_become_bounds():
    assert [(d.since, d.until) for d in find_dates("published after October 2023", REF)] == [("2023-11-01", None)]
    assert [(d.since, d.until) for d in find_dates("before November 5, 2023", REF)] == [(None, "2023-11-04")]
    assert [(d.since, d.until) for d in find_dates("by November 11, 2023", REF)] == [(None, "2023-11-11")]
    assert [(d.since, d.until) for d in find_dates("in October", REF)] == [("2023-10-01", "2023-10-31")]
    between = find_dates("between October 2 and October 9, 2023", REF)
    assert [(d.since, d.until) for d in between] == [("2023-10-02", None), (None, "2023-10-09")]


def test_missing_year_is_the_latest_not_after_the_reference():
    assert find_dates("on December 30", REF)[0].first == "2022-12-30"
    assert find_dates("on December 3", REF)[0].first == "2023-12-03"
    assert find_dates("on December 3", None) == []  # no reference, no guess


def test_not_dates():
    assert find_dates("Mar-a-Lago and May we ask? February 30, 2023", REF) == []


def test_each_named_source_becomes_a_subquery_with_its_own_date():
    m = OutletMatcher(OUTLETS)
    q = (
        "Between the report from The Verge on November 7, 2023, portraying Google as the protagonist, and the "
        "TechCrunch article on December 15, 2023, citing a suit, has the portrayal remained consistent?"
    )
    a = analyse(q, m, REF)
    assert a.outlets == ("The Verge", "TechCrunch")
    sources = [s for s in a.subqueries if s.kind == "source"]
    assert [(s.outlets, s.since, s.until) for s in sources] == [
        (("The Verge",), "2023-11-07", "2023-11-07"),
        (("TechCrunch",), "2023-12-15", "2023-12-15"),
    ]
    assert "Google" in sources[0].text and "suit" in sources[1].text
    assert (a.since, a.until) == ("2023-11-07", "2023-12-15")
    assert any("The Verge" in n and "2023-11-07" in n for n in a.notes)


def test_sources_the_corpus_does_not_have():
    m = OutletMatcher(OUTLETS)
    q = "Considering a Bloomberg article and a piece from The Wall Street Journal, and the TechCrunch report?"
    assert [n for _, _, n in source_names(q)] == ["Bloomberg", "TechCrunch", "The Wall Street Journal"]
    assert analyse(q, m, REF).unknown_sources == ("Bloomberg", "The Wall Street Journal")
    assert analyse("an article in October from The Verge", m, REF).unknown_sources == ()
    # "…and another by X" names a second source, but only after a first one ("another in Paris" is a place).
    two = "Considering an article by The Verge and another by CNET on the Watch Series 9, which feature?"
    assert analyse(two, m, REF).unknown_sources == ("CNET",)
    assert analyse("After one strike in London and another in Paris, what changed?", m, REF).unknown_sources == ()


def test_a_many_part_question_is_split_with_the_outlets_each_part_names():
    m = OutletMatcher(OUTLETS)
    q = (
        "Who is the person who left OpenAI according to 'The Age', became a prominent voice in Silicon Valley "
        "as reported by 'Fortune', and was accused of misleading the board as discussed by TechCrunch?"
    )
    parts = question_parts(q, m.find(q))
    assert [p[1] for p in parts] == [("The Age",), ("Fortune",), ("TechCrunch",)]
    assert parts[1][0].startswith("became a prominent voice")
    kinds = [s.kind for s in analyse(q, m, REF).subqueries]
    assert kinds.count("source") == 3 and kinds.count("part") == 3


def test_an_attribution_only_part_joins_the_part_before_it():
    m = OutletMatcher(OUTLETS)
    q = (
        "Which company spent billions on search deals, as reported by TechCrunch, "
        "and was accused of harming news sites?"
    )
    assert question_parts(q, m.find(q)) == [
        ("Which company spent billions on search deals, as reported by TechCrunch", ("TechCrunch",)),
        ("was accused of harming news sites", ()),
    ]


def test_two_predicates_joined_by_and_are_two_parts_but_two_outlets_are_not():
    m = OutletMatcher(OUTLETS)
    q = (
        "Which platform, featured by both The Verge and TechCrunch, provides a cash-out option to settle bets "
        "early and offers new customers up to $1000 in bonus bets?"
    )
    # "Which platform" and "featured by both The Verge and TechCrunch" say too little to be searched alone.
    assert question_parts(q, m.find(q)) == [
        ("provides a cash-out option to settle bets early", ()),
        ("offers new customers up to $1000 in bonus bets", ()),
    ]
    # A short side ("and Mexico say") is not a part of its own: the question stays whole.
    q = "What did the presidents of Colombia and Mexico say?"
    assert question_parts(q, m.find(q)) == [("What did the presidents of Colombia and Mexico say", ())]


def test_a_date_without_an_outlet_is_searched_as_a_period():
    m = OutletMatcher(OUTLETS)
    a = analyse("Which league signed a broadcast deal in articles published after October 2023?", m, REF)
    assert [(s.outlets, s.since, s.until) for s in a.subqueries if s.kind == "source"] == [((), "2023-11-01", None)]
    assert any("2023-11-01" in n for n in a.notes)


def test_a_plain_question_gets_no_subqueries():
    a = analyse("What did the minister say about the budget?", OutletMatcher(OUTLETS), REF)
    assert a.subqueries == () and a.notes == () and a.unknown_sources == ()
