"""Reading a question for what it leaves unsaid, and an answer for the names it gives. No LLM, no model.

A question leans on earlier turns when it (1) opens as a continuation ("And in Mexico?", "What about X?"),
(2) asks for others ("the other outlets?", "who else?", "… too?"), (3) holds a pronoun, demonstrative or
"there"/"then" with nothing in the question itself it could refer to ("What did Hegseth say he wanted?" refers
inside; "What did he say?" does not), or (4) names nothing and has at most two topic words ("Why?", "What did
Dawn say?"). `follow_up_reasons` says which; `rag.conversation` decides what to carry.

The word lists and name finding are in rag/words.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from rag.retrieval import tokenize
from rag.words import (
    AUX,
    CLAUSE_MARKS,
    DEMONSTRATIVE,
    GLUE,
    IMPERATIVES,
    MARKER,
    NEUTER,
    OPENERS,
    OPENING_PAIRS,
    PREPOSITIONS,
    SOURCE_NOUNS,
    SPEECH,
    STOP,
    TIME_NOUNS,
    Token,
    content_words,
    is_acronym,
    names_in,
    outlet_mentions,
    without_outlets,
    word_tokens,
)


def _bound(tokens: list[Token], i: int) -> bool:
    """Whether the pronoun at `i` can refer to something earlier in the same question.

    True when a clause mark ("and", "while", "where", "instead of"…) stands between the pronoun and a name or
    topic word before it: "What did the Pentagon announce and when did it start?". A mark right before the
    pronoun is a preposition ("after that"), and "and" between two capitalised words is part of a name
    ("Navy and Marines"): neither opens a clause.
    """
    for j in range(i - 1, 0, -1):
        t = tokens[j]
        if t.low not in CLAUSE_MARKS or (j == i - 1 and t.low in PREPOSITIONS):
            continue
        if t.low in GLUE and tokens[j + 1].cap and tokens[j - 1].cap:
            continue
        before = tokens[:j]
        return bool(names_in(before, question=True) or content_words(before))
    return False


def _expletive_it(tokens: list[Token], i: int) -> bool:
    """ "Is it true that…", "it was reported that…", "how long did it take…": an "it" that refers to nothing."""
    prev = tokens[i - 1].low if i > 0 else ""
    nxt = tokens[i + 1].low if i + 1 < len(tokens) else ""
    if nxt in {"take", "took", "takes", "cost", "costs"}:
        return True
    if prev in {"is", "was", "isn't", "wasn't"} or nxt in {"is", "was", "seems", "seemed", "appears", "appeared"}:
        return any(t.low in {"that", "to", "whether", "if"} for t in tokens[i + 2 : i + 5])
    return False


def _possessive_bound(tokens: list[Token], i: int) -> bool:
    """Whether a possessive ("its", "his", "their") can belong to something named before it in the question.

    A name before it ("Did Reuters change its story?") or a "which/what + noun" phrase ("Which company … its
    platform") can own it; "What did its CEO say?" or "What was her role?" have no owner in the question.
    """
    for j in range(i):
        t = tokens[j]
        if t.cap and t.low not in STOP and not (j == 0 and t.low in IMPERATIVES):
            return True
        if t.low in {"which", "what", "whose"} and j + 1 < i and tokens[j + 1].low not in STOP:
            return True
        if t.low == "who" and any(x.low not in STOP for x in tokens[j + 1 : i]):
            return True
    return False


def anaphora(question: str) -> list[str]:
    """The words of `question` that point at something it does not name itself (he, it, there, that…)."""
    toks = word_tokens(question)
    names_so_far = 0
    found = []
    for i, t in enumerate(toks):
        nxt = toks[i + 1].low if i + 1 < len(toks) else ""
        prev = toks[i - 1].low if i > 0 else ""
        possessive = t.low in {"his", "its", "their"} or (t.low == "her" and nxt and nxt not in STOP)
        if t.cap and t.low not in STOP and not (i == 0 and t.low in IMPERATIVES):
            names_so_far += 1
        if possessive:
            if not _possessive_bound(toks, i) and not _bound(toks, i):
                found.append(t.low)
        elif t.low in {"he", "she"}:
            if names_so_far == 0 and not _bound(toks, i):  # "What did Hegseth say he wanted?" is bound
                found.append(t.low)
        elif t.low in {"him", "her", "hers"}:
            if not _bound(toks, i):  # an object is never its own clause's subject: "Did Hegseth tell him?"
                found.append(t.low)
        elif t.low in NEUTER:
            if not (t.low == "it" and _expletive_it(toks, i)) and not _bound(toks, i):
                found.append(t.low)
        elif t.low in DEMONSTRATIVE or t.low == "that":
            # "this week" is the article's time; "those who…" and "that of X" point ahead, not back.
            if nxt in TIME_NOUNS or nxt == "of" or (t.low == "those" and nxt in {"who", "that", "which", "whose"}):
                continue
            # "that" is a conjunction or relative ("said that…", "the order that…") unless it ends the
            # question, follows a preposition ("after that"), or opens it ("Was that…", "Why was that?").
            if t.low == "that" and not (not nxt or prev in PREPOSITIONS or i <= 2 or nxt in SOURCE_NOUNS):
                continue
            if not _bound(toks, i):
                found.append(t.low)
        elif t.low == "there":
            # Existential "there is/was/were…", "are there…" is not a place.
            if nxt in AUX or prev in AUX or nxt in {"seem", "seems", "appear", "appears", "remain", "remains"}:
                continue
            if not _bound(toks, i):
                found.append("there")
        elif t.low == "then" and (not nxt or prev in {"since", "by", "until", "till", "back", "before", "after"}):
            found.append("then")
        elif t.low in {"latter", "former", "same"} and prev == "the" and (not nxt or nxt in AUX | {"one", "thing"}):
            found.append(f"the {t.low}")
    return found


def follow_up_reasons(question: str, outlets: Iterable[str] = ()) -> list[str]:
    """Why `question` leans on earlier turns (empty when it stands alone). `outlets`: the corpus's outlets."""
    toks = word_tokens(question)
    if not toks:
        return []
    reasons = []
    first, second = toks[0].low, toks[1].low if len(toks) > 1 else ""
    if first in OPENERS:
        reasons.append(f"opens with '{toks[0].text}'")
    elif f"{first}+{second}" in OPENING_PAIRS:
        reasons.append(f"opens with '{toks[0].text} {toks[1].text}'")
    outlet_names = outlet_mentions(question, outlets)
    names = without_outlets(names_in(toks, question=True), outlet_names)
    names = [n for n in names if not is_acronym(n)]
    lows = [t.low for t in toks]
    # "Who else…?", "…too?", "the other outlets?"; a bare "other(s)" only when the question names nothing
    # ("Which other countries attended?"), since "compared to other models" in a full question is its own.
    if (
        "else" in lows
        or wants_other_outlets(question)
        or (not names and any(w in {"other", "others"} for w in lows))
        or question.rstrip(" ?!.").lower().endswith((" too", " as well", " also"))
    ):
        reasons.append("asks about others")
    reasons += [f"'{w}'" for w in dict.fromkeys(anaphora(question))]
    if not names and len(content_words(toks)) <= 2:
        reasons.append("names nothing" if outlet_names else "too short to stand alone")
    return reasons


def needs_context(question: str, outlets: Iterable[str] = ()) -> bool:
    """Whether `question` leans on earlier turns."""
    return bool(follow_up_reasons(question, outlets))


def wants_other_outlets(question: str) -> bool:
    """ "And the other outlets?", "What do other sources say?": outlets other than those already cited."""
    lows = [t.low for t in word_tokens(question)]
    return any(a in {"other", "others"} and b in SOURCE_NOUNS for a, b in zip(lows, lows[1:], strict=False))


def _answer_text(answer: str, outlets: Iterable[str]) -> str:
    """The quoted words of an answer: citation markers and the extractive answer's "Outlet: " prefixes removed."""
    text = MARKER.sub("", answer)
    for outlet in outlets:
        text = text.replace(f"{outlet}: ", "\n")
    return re.sub(r"(?m)^[^:\n]{1,60}:\s", "", text)


def _is_speaker(name: str, sentence: str) -> bool:
    """Whether `sentence` has `name` saying something ("X, a spokesman, said…", "…, said X")."""
    verbs = "|".join(SPEECH)
    after = rf"{re.escape(name)}['’]?s?,?\s+(?:[\w-]+,?\s+){{0,8}}?(?:{verbs})\b"
    return bool(re.search(after, sentence) or re.search(rf"\b(?:{verbs})\s+{re.escape(name)}", sentence))


def _is_place(name: str, sentence: str) -> bool:
    """Whether `sentence` has `name` after a preposition of place ("held in Miami")."""
    return bool(re.search(rf"\b(?:in|at|near|outside|inside)\s+(?:the\s+)?{re.escape(name)}", sentence))


def answer_names(
    answer: str,
    outlets: Iterable[str] = (),
    skip: Iterable[str] = (),
    question: str = "",
    speakers: bool = False,
    places: bool = False,
) -> list[str]:
    """The names an answer gives, most telling first.

    A name scores by the best sentence it appears in: how many words of `question` (other than the names in
    `skip`) that sentence shares, so the name in "began Thane Rehn, a prosecutor for the government, in his
    opening statement" answers "Which prosecutor gave the opening statement?"; each further mention adds a
    half. With `speakers` a name next to "said"/"told" adds one (the likely "he" of a follow-up), with
    `places` a name after "in"/"at" does (the answer to "where"). Names in `skip` (or sharing a word with
    one) and outlets are left out.
    """
    outlets, skip = list(outlets), list(skip)
    text = _answer_text(answer, outlets)
    skipped = {w.lower() for s in skip for w in s.split()}
    asked = set(tokenize([question])[0]) - {t for s in skip for t in tokenize([s])[0]}
    mid_caps = {t.low for t in word_tokens(text) if t.cap and not t.initial}
    best: dict[str, float] = {}
    extra: dict[str, float] = {}
    for sentence in re.split(r"(?<=[.?!])\s+|\n+", text):
        toks = word_tokens(sentence)
        toks = [t if t.low in mid_caps or not t.initial else Token(t.text, t.low, t.start, True, False) for t in toks]
        shared = len(asked & set(tokenize([sentence])[0]))
        for n in without_outlets(names_in(toks, question=True), outlets):
            if is_acronym(n) or any(w.lower() in skipped for w in n.split()):
                continue
            if n in best:
                extra[n] = extra.get(n, 0.0) + 0.5
            bonus = 1.0 if (speakers and _is_speaker(n, sentence)) or (places and _is_place(n, sentence)) else 0.0
            best[n] = max(best.get(n, 0.0), shared + bonus)
    order = {n: i for i, n in enumerate(best)}
    return sorted(best, key=lambda n: (-(best[n] + extra.get(n, 0.0)), order[n]))


def asks_for_entity(question: str) -> bool:
    """ "Who…?", "Where…?", "Which…?": the answer names what a later "he", "there" or "it" refers to."""
    toks = word_tokens(question)
    return bool(toks) and toks[0].low in {"who", "whom", "where", "which"}


def attached_words(tokens: list[Token], name: str) -> set[str]:
    """Words bound to `name` in a phrase ("prime minister of X", "X's president", "president X")."""
    words = name.split()
    out: set[str] = set()
    for i in range(len(tokens) - len(words) + 1):
        if [t.text for t in tokens[i : i + len(words)]] != words:
            continue
        j = i - 1
        if j >= 0 and tokens[j].low == "of":
            out |= {t.low for t in tokens[max(0, j - 2) : j] if t.low not in STOP}
        elif j >= 0 and tokens[j].low not in STOP and not tokens[j].cap:
            out.add(tokens[j].low)
        end = i + len(words)
        if tokens[end - 1].poss and end < len(tokens) and tokens[end].low not in STOP:
            out.add(tokens[end].low)
    return out
