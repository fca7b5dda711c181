"""The question reader inside `Pipeline.ask`: a follow-up that narrows the outlets itself says so when they
have nothing, instead of blaming filters the user never set. No model: a stub embedder over a memory index."""

from __future__ import annotations

import numpy as np

from rag.config import Settings
from rag.pipeline import Pipeline
from rag.types import Answer, Article, Turn

from .helpers import memory_retriever

MILLER = "Stephen Miller said cartels must be defeated with military power, officials said."
ARTICLES = [
    Article("d", "Dawn", "Miller on cartels", "2025-11-01", "", MILLER),
    Article("a", "Al Jazeera", "Cartels", "2025-11-01", "", MILLER),
    Article("t", "TC Sentinel", "Conference", "2025-11-01", "", MILLER),
    Article("e", "Evrim Ağacı", "Astronomy", "2025-11-01", "", "A comet passed close to the Sun in the autumn."),
    Article("r", "Truthout", "Labour", "2025-11-01", "", "Teachers went on strike over their pay in Ohio."),
]


class _NoDense:
    """The memory index holds no vectors: every text embeds to the same unit vector."""

    dimension = 4

    def encode(self, texts: list[str], **_: object) -> np.ndarray:
        return np.tile(np.array([1, 0, 0, 0], np.float32), (len(texts), 1))

    def encode_query(self, text: str) -> np.ndarray:
        return self.encode([text])

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return self.encode(texts)


def test_other_outlets_with_nothing_on_the_topic_say_what_was_narrowed() -> None:
    pipeline = Pipeline(Settings())
    retriever = memory_retriever(ARTICLES)
    retriever.embedder = _NoDense()  # type: ignore[assignment]
    pipeline._retriever = retriever
    cited = ("Dawn", "Al Jazeera", "TC Sentinel")
    history = [Turn("What did Stephen Miller say about defeating cartels?", "…", "", cited)]
    answer = pipeline.ask("And what did the other outlets report?", history)
    assert answer.refused and answer.citations == []
    assert answer.text == "Evrim Ağacı and Truthout do not mention Stephen Miller."
    assert answer.filters["outlets"] == ["Evrim Ağacı", "Truthout"] and answer.filters["narrowed"]
    # A filter the user set is the user's: no narrowing, no such sentence.
    own = pipeline.ask("And what did the other outlets report?", history, outlets=["Truthout"])
    assert own.refused and "narrowed" not in own.filters and "Stephen Miller" not in own.text


def _after_chavez() -> tuple[Pipeline, list[Turn]]:
    """A pipeline over the test articles (no dense model) and one earlier turn that quoted TC Sentinel on Chavez."""
    pipeline = Pipeline(Settings())
    retriever = memory_retriever(ARTICLES)
    retriever.embedder = _NoDense()  # type: ignore[assignment]
    pipeline._retriever = retriever
    said = "TC Sentinel: Rebecca Bill Chavez, a critic, warned against it. [1]"
    return pipeline, [Turn("Who is Rebecca Bill Chavez?", said, "", ("TC Sentinel",))]


def test_a_refused_follow_up_is_asked_again_without_the_carried_names() -> None:
    pipeline, history = _after_chavez()
    answer = pipeline.ask("What did the other outlets say about the strike?", history)
    assert not answer.refused and answer.citations[0].outlet == "Truthout"
    assert "Rebecca" not in answer.search_query and "retried without the names" in " ".join(answer.filters["notes"])
    # The answer says first that the outlets it quotes do not mention the name the retry left out.
    lacking, quotes = answer.text.split("\n", 1)
    assert lacking.startswith("Al Jazeera, Dawn, Evrim Ağacı and Truthout do not mention Rebecca Bill Chavez.")
    assert quotes.startswith("Truthout: Teachers went on strike") and "[" not in lacking


def test_the_chat_stream_retries_a_refused_follow_up_as_ask_does() -> None:
    pipeline, history = _after_chavez()
    items = list(pipeline.ask_stream("What did the other outlets say about the strike?", history))
    answer = items[-1]
    assert isinstance(answer, Answer) and not answer.refused and answer.citations[0].outlet == "Truthout"
    assert "retried without the names" in " ".join(answer.filters["notes"])
    assert answer.text.startswith("Al Jazeera, Dawn, Evrim Ağacı and Truthout do not mention Rebecca Bill Chavez.")


PAUSE = [
    Article("a", "Al Jazeera", "Strikes", "2026-03-01", "", "The boat strikes paused for a few weeks in February."),
    Article("d", "Dawn", "Strikes", "2026-03-01", "", "Boat strikes went on in the Caribbean in February."),
    Article("t", "Truthout", "Strikes", "2026-03-01", "", "The boat strikes killed 150 people, officials said."),
]


def _pipeline(articles: list[Article]) -> Pipeline:
    pipeline = Pipeline(Settings())
    retriever = memory_retriever(articles)
    retriever.embedder = _NoDense()  # type: ignore[assignment]
    pipeline._retriever = retriever
    return pipeline


def test_other_outlets_without_the_storys_rarest_word_are_quoted_with_a_line_saying_so() -> None:
    history = [Turn("Why did the boat strikes pause in February?", "Al Jazeera: … [1]", "", ("Al Jazeera",))]
    answer = _pipeline(PAUSE).ask("What did the other outlets say?", history)
    assert not answer.refused and {c.outlet for c in answer.citations} <= {"Dawn", "Truthout"}
    lacking, quotes = answer.text.split("\n", 1)
    assert lacking == "Dawn and Truthout do not use the word “pause”. Their passages closest to the question:"
    assert quotes.startswith(("Dawn: ", "Truthout: "))
    # One of them using it (in any form: "paused") is on the story: no such line.
    said = [*PAUSE[:2], Article("t", "Truthout", "Strikes", "2026-03-01", "", "The strikes paused, officials said.")]
    answer = _pipeline(said).ask("What did the other outlets say?", history)
    assert not answer.refused and "do not use the word" not in answer.text


SHEINBAUM = [
    Article("t", "Truthout", "Mexico", "2026-03-01", "", "Sheinbaum said US troops would not be deployed in Mexico."),
    Article("d", "Dawn", "Mexico", "2026-03-01", "", "The US aided Mexico in an operation against a cartel boss."),
    Article("a", "Al Jazeera", "Mexico", "2026-03-01", "", "Troops were sent to the Middle East, not Mexico."),
]


def test_other_outlets_that_never_name_the_carried_person_are_quoted_with_a_line_saying_so() -> None:
    said = "Truthout: Sheinbaum said US troops would not be deployed in Mexico. [1]"
    history = [Turn("What did Sheinbaum say about US troops in Mexico?", said, "", ("Truthout",))]
    answer = _pipeline(SHEINBAUM).ask("And what did the other outlets report?", history)
    assert not answer.refused and {c.outlet for c in answer.citations} <= {"Dawn", "Al Jazeera"}
    lacking, quotes = answer.text.split("\n", 1)
    assert lacking == "Al Jazeera and Dawn mention Mexico but not Sheinbaum. Their passages closest to the question:"
    # The line is the system's, not a source's: kept apart, and never counted as what the sources say.
    assert answer.preface == lacking and "Sheinbaum" not in answer.cited_text
    assert quotes.startswith(("Dawn: ", "Al Jazeera: "))
    # One of them naming her anywhere in its articles is on her story: no such line.
    named = [
        *SHEINBAUM[:2],
        Article("a", "Al Jazeera", "Mexico", "2026-03-01", "", "Sheinbaum said troops went to the Middle East."),
    ]
    answer = _pipeline(named).ask("And what did the other outlets report?", history)
    assert not answer.refused and "but not Sheinbaum" not in answer.text


REVIEW = (
    "The 16-inch MacBook Pro with the M3 Max costs $4,000 as configured, with 48GB of memory. "
    "With 128GB of memory and 8TB of storage it comes to $7,200. "
    "The laptop is heavy: it weighs 4.7 pounds, and the battery lasts a full day."
)


def test_a_follow_up_searches_its_own_words_within_the_articles_the_last_answers_cited() -> None:
    articles = [
        Article("m", "TechCrunch", "MacBook Pro review", "2023-11-06", "", REVIEW),
        Article("x", "Engadget", "Gym bags", "2023-11-06", "", "A heavy bag for the gym. It is heavy and cheap."),
    ]
    pipeline = Pipeline(Settings())
    retriever = memory_retriever(articles, size=80, overlap=0)
    retriever.embedder = _NoDense()  # type: ignore[assignment]
    pipeline._retriever = retriever
    first = Turn("How much does the M3 Max MacBook Pro cost?", "TechCrunch: … [1]", "", ("TechCrunch",), ("m",))
    query = pipeline.search_query("How heavy is it?", [first])
    assert query.focus == ["m"]
    assert "also searched “heavy” in the 1 article cited before" in query.notes  # said, as every search is
    ranked = retriever._focus_ranked(query, np.array([1, 0, 0, 0], np.float32), None)
    chunks = retriever.index.chunks
    assert {chunks[c].article_id for c in ranked} == {"m"}  # within the cited article only
    best = max(ranked, key=lambda c: ranked[c])
    assert "weighs 4.7 pounds" in chunks[best].text  # its own word, "heavy", picks the passage
    # A question with no words of its own, a topic change and the other outlets have no focus.
    assert pipeline.search_query("Why?", [first]).focus == []
    assert pipeline.search_query("Who founded Engadget's parent company?", [first]).focus == []
    assert pipeline.search_query("What did the other outlets say about it?", [first]).focus == []


def test_an_answer_whose_quotes_hold_no_figure_says_so_first() -> None:
    articles = [
        Article("d", "Dawn", "Miller on cartels", "2025-11-01", "", MILLER),
        Article("t", "TC Sentinel", "Strikes", "2025-11-01", "", "The boat strikes killed 150 people, officials said."),
    ]
    pipeline = Pipeline(Settings())
    retriever = memory_retriever(articles)
    retriever.embedder = _NoDense()  # type: ignore[assignment]
    pipeline._retriever = retriever
    old = pipeline.ask("How old is Stephen Miller?")
    assert not old.refused and old.preface == "None of the passages found gives a figure. The closest to the question:"
    assert old.text.startswith(old.preface) and "Stephen Miller said" in old.cited_text
    died = pipeline.ask("How many people have the boat strikes killed?")
    assert not died.refused and died.preface == "" and "150" in died.text
    asked = pipeline.ask("Did Stephen Miller say when the cartels must be defeated?")  # yes or no: no such line
    assert asked.preface == ""
