"""The sentence splitter: news prose with abbreviations, initials, quotes, numbers; spans are exact."""

from __future__ import annotations

import pytest

from rag.text.sentences import sentence_spans, split_sentences


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The U.S. military struck a boat. It sank.", ["The U.S. military struck a boat.", "It sank."]),
        ("Mr. Smith went to Washington. He met Dr. Jones.", ["Mr. Smith went to Washington.", "He met Dr. Jones."]),
        (
            "Gen. Mark Milley spoke at 10 a.m. Monday. He left.",
            ["Gen. Mark Milley spoke at 10 a.m. Monday.", "He left."],
        ),
        (
            "J. Edgar Hoover ran the F.B.I. for decades. Then he died.",
            ["J. Edgar Hoover ran the F.B.I. for decades.", "Then he died."],
        ),
        (
            "Sen. Elizabeth Warren objected. She spoke for an hour.",
            ["Sen. Elizabeth Warren objected.", "She spoke for an hour."],
        ),
        ("St. Louis is a city. It is in Missouri.", ["St. Louis is a city.", "It is in Missouri."]),
        (
            "Roe v. Wade was overturned in 2022. Protests followed.",
            ["Roe v. Wade was overturned in 2022.", "Protests followed."],
        ),
        ("The rate rose to 4.35 per cent. Analysts agreed.", ["The rate rose to 4.35 per cent.", "Analysts agreed."]),
        ("It costs $1.99 per month. That is cheap.", ["It costs $1.99 per month.", "That is cheap."]),
        ("It was No. 5 on the list. Really.", ["It was No. 5 on the list.", "Really."]),
        # An abbreviation at the end of a sentence: a word that opens sentences follows it.
        ("He moved to the U.S. The next year he left.", ["He moved to the U.S.", "The next year he left."]),
        ("He joined the F.B.I. The job was hard.", ["He joined the F.B.I.", "The job was hard."]),
        ("She said no. Then she left.", ["She said no.", "Then she left."]),
        ("I saw it. A man ran.", ["I saw it.", "A man ran."]),
        # Quotes and brackets.
        ('"We will win." He said it twice.', ['"We will win."', "He said it twice."]),
        ("“We will win,” he said. “Nobody doubts it.”", ["“We will win,” he said.", "“Nobody doubts it.”"]),
        ("“Is it over?” she asked. Nobody knew.", ["“Is it over?” she asked.", "Nobody knew."]),
        ("(This is a note.) Then more.", ["(This is a note.)", "Then more."]),
        ("Is it over? Nobody knows! Let us see.", ["Is it over?", "Nobody knows!", "Let us see."]),
        ("Wait... What happened?", ["Wait...", "What happened?"]),
        # Numbers and lower-case continuations never start a sentence.
        ("The vote was 5-4. 2024 was different.", ["The vote was 5-4.", "2024 was different."]),
        ("Prices rose (e.g. rents). and more", ["Prices rose (e.g. rents). and more"]),
    ],
)
def test_splits(text: str, expected: list[str]) -> None:
    assert split_sentences(text) == expected


def test_line_breaks_end_sentences() -> None:
    text = "Headline without a full stop\nFirst paragraph sentence. Second one.\n\nCaption line"
    assert split_sentences(text) == [
        "Headline without a full stop",
        "First paragraph sentence.",
        "Second one.",
        "Caption line",
    ]


def test_spans_are_exact_and_stripped() -> None:
    text = "  Lead sentence here.   Second sentence follows.\n\n  Third line.  "
    spans = sentence_spans(text)
    assert [text[s:e] for s, e in spans] == ["Lead sentence here.", "Second sentence follows.", "Third line."]


def test_offset_shifts_spans() -> None:
    text = "One sentence. Two sentences."
    assert sentence_spans(text, offset=100) == [(100 + s, 100 + e) for s, e in sentence_spans(text)]


@pytest.mark.parametrize("text", ["", "   ", "\n\n"])
def test_blank_text_has_no_sentences(text: str) -> None:
    assert sentence_spans(text) == []


def test_a_brand_abbreviation_does_not_end_a_sentence() -> None:
    text = "Whether or not Super Mario Bros. Wonder is the best, it sold. What you get is Super Mario Bros. The end."
    assert split_sentences(text) == [
        "Whether or not Super Mario Bros. Wonder is the best, it sold.",
        "What you get is Super Mario Bros.",
        "The end.",
    ]
