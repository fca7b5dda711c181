"""The text layer (rag/text/): one outlet matcher, one name finder, dates read by dateparser, tokens without
side effects."""

from __future__ import annotations

import subprocess
import sys
from datetime import date

from rag.reading import follow_up_reasons, read
from rag.text.dates import find_dates
from rag.text.names import names_in, sentence_names
from rag.text.outlets import OutletMatcher, without_outlets
from rag.text.tokens import word_tokens

#: The outlets on which the two former matchers disagreed (rag/query.py found the first two, rag/words.py the
#: third and fourth's part).
OUTLETS = ["Fox News: Health", "TechCrunch.com", "BBC News | World", "Dawn"]


def test_one_matcher_finds_every_outlet_by_its_head_domain_or_part() -> None:
    m = OutletMatcher(OUTLETS)
    assert m.named("What did Fox News say about the TechCrunch report?") == ("Fox News: Health", "TechCrunch.com")
    assert m.named("And World?") == ("BBC News | World",)
    assert m.named("Did BBC News cover it?") == ("BBC News | World",)
    assert m.named("World leaders met; Health officials spoke.") == ()  # a later part opening a sentence
    assert m.named("at dawn, the fox ran") == ()  # not capitalised as a name
    sports = OutletMatcher(["The Independent - Sports"])
    assert sports.named("a BBC Sports report and a Sports Illustrated piece") == ()  # inside longer names
    assert sports.named("What did the Independent say about it, and Sports?") == ("The Independent - Sports",)


def test_the_reader_and_the_analysis_see_the_same_outlets() -> None:
    for question, outlet in [
        ("What did Fox News say?", "Fox News: Health"),
        ("What did TechCrunch say?", "TechCrunch.com"),
        ("And World?", "BBC News | World"),
    ]:
        assert read(question, outlets=OUTLETS).outlets == (outlet,)
        assert "names nothing" in follow_up_reasons(question, OUTLETS)
    names = ["Fox News Health", "Dawn report", "Stephen Miller"]
    assert without_outlets(names, OUTLETS) == ["report", "Stephen Miller"]


def test_names_skip_sentence_openers_and_abbreviations_do_not_open_sentences() -> None:
    text = "The U.S. Attorney General spoke. Meanwhile Stephen Miller said no."
    assert names_in(word_tokens(text), question=False) == ["U.S Attorney General", "Stephen Miller"]
    assert sentence_names("Did Stephen Miller say it? GDP rose.") == [("Stephen Miller", False), ("GDP", True)]


def test_dates_are_read_by_dateparser_and_bounded_by_their_words() -> None:
    ref = date(2023, 12, 25)
    found = find_dates("since 3rd of May, before Sept. 5, 2023", ref)
    assert [(d.text, d.since, d.until) for d in found] == [
        ("3rd of May", "2023-05-03", None),
        ("Sept. 5, 2023", None, "2023-09-04"),
    ]


def test_tokens_come_without_the_retrievers_thread_limit() -> None:
    code = "import sys, rag.text.tokens, rag.reading; print('rag.retrieval' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_the_kind_of_answer_a_question_asks_for_comes_from_its_question_word() -> None:
    from rag.text.asks import asked_kind, asks_for_a_name, asks_yes_no

    kinds = {
        "How many people have died in the boat strikes?": "number",
        "And how much did Google pay them?": "number",
        "What percentage of the vote did she get?": "number",
        "When did Trump order the use of force?": "date",
        "In what year was the deal signed?": "date",
        "What time does it kick off?": "time",
        "How long has the deal been in place?": "duration",
        "Who is the judge in the trial?": "name",
        "Which teams were in the running?": "name",
        "Why did the strikes pause?": None,
        "What did Dawn say about Hegseth?": None,
        "Did the court rule against Google?": None,
    }
    assert {q: asked_kind(q) for q in kinds} == kinds
    assert asks_for_a_name("What company makes it?") and not asks_for_a_name("What about Mexico?")
    from rag.text.asks import asked_noun

    nouns = {
        "Which Martin Scorsese film did his daughter call 'slept on'?": "film",
        "Whose robot is Amazon testing?": "robot",
        "What team did he play for?": "team",
        "Which two teams met in the final?": "teams",  # numbers are passed over
        "What kind of car is it?": "car",
        "Who is the judge?": None,
        "What did Dawn say?": None,
    }
    assert {q: asked_noun(q) for q in nouns} == nouns
    assert asks_yes_no("Did The Verge report a fall in sales?") and asks_yes_no("And was he charged?")
    assert not asks_yes_no("What did he say?") and not asks_yes_no("Who was charged?") and not asks_yes_no("")


def test_a_sentence_holds_an_answer_of_the_asked_kind() -> None:
    from rag.text.asks import holds_kind

    assert holds_kind("The nine-person jury decided against Google.", "number")
    assert holds_kind("It carries a $99,990 price tag.", "number")
    assert not holds_kind("Cue had one message for the court.", "number")  # "one" is mostly a pronoun
    assert not holds_kind("In 2023 the company grew.", "number")  # a bare year dates, it does not count
    assert holds_kind("In 2023 the company grew.", "date")
    assert holds_kind("The first deliveries came on November 30.", "date")
    assert not holds_kind("Officials may announce it soon.", "date")  # "may" the verb is no month
    # A time of day answers "What time…?" (and "When…?"); a day alone does not say what time.
    for timed in ["Ravens at 49ers | 8:15 p.m. ET", "Kickoff is at 3pm.", "It starts at 20:00.", "at noon"]:
        assert holds_kind(timed, "time") and holds_kind(timed, "date")
    assert not holds_kind("The game is on Monday, Christmas Day.", "time")
    assert not holds_kind("PM Modi spoke; the score was 2-1.", "time")
    assert holds_kind("The ISA has been in place since 2002.", "duration")
    # A length of time, or a year to count from; not just any figure ("one of the last 25 derbies", "12:30pm").
    assert holds_kind("Robertson is out for up to three months.", "duration")
    assert holds_kind("The record has stood for 89 years.", "duration")
    assert holds_kind("It was signed in 2002.", "duration")
    assert not holds_kind("Everton have won one of the last 25 derbies.", "duration")
    assert not holds_kind("It is live at 12:30pm on October 21.", "duration")
    assert not holds_kind("The 22-year-old scored twice.", "duration")
    assert holds_kind("Judge Amit Mehta ruled on Google's list.", "name", known=["Google"])
    assert not holds_kind("The trial over Google continued.", "name", known=["Google"])


def test_citation_markers_are_found_and_stripped_by_one_pattern() -> None:
    from rag.text.markers import MARKER, strip_markers

    said = "Dawn: …only be defeated with military force. [1] “The reason…” [12]"
    assert [m.group(1) for m in MARKER.finditer(said)] == ["1", "12"]
    assert strip_markers(said) == "Dawn: …only be defeated with military force. “The reason…”"
    assert not MARKER.search("A list [a] of [ 2 ] things")


def test_the_word_after_how_is_the_questions_form_not_its_topic() -> None:
    from rag.text.tokens import TOPICLESS, how_degree, tokenize

    toks = word_tokens("How old is he, and how long was the Old Trafford record held?")
    assert [toks[i].low for i in sorted(how_degree(toks))] == ["old", "long"]
    assert how_degree(word_tokens("Who is the old manager?")) == set()
    terms = set(tokenize(["What did Dawn quote Miller saying about lawyers?"])[0]) - TOPICLESS
    assert terms == {"dawn", "miller", "lawyer"}
