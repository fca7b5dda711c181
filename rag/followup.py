"""Reading a question for what it leaves unsaid, and an answer for the names it gives. No LLM, no model.

A question leans on earlier turns when it (1) opens as a continuation ("And in Mexico?", "What about X?"),
(2) asks for others ("the other outlets?", "who else?", "… too?"), (3) holds a pronoun, demonstrative or
"there"/"then" with nothing in the question itself it could refer to ("What did Hegseth say he wanted?" refers
inside; "What did he say?" does not), or (4) names nothing and has at most two topic words ("Why?", "What did
Dawn say?"). `follow_up_reasons` says which; `rag.conversation` decides what to carry.

The word lists are English function words (pronouns, prepositions, auxiliaries…), never words of a corpus or
of the evaluation questions. Names are capitalised spans; outlet names come from the index.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rag.retrieval import tokenize

# -- English function words (general, not tied to any corpus) ------------------------------------------------

_WH = frozenset("what which who whom whose when where why how".split())
_AUX = frozenset(
    """is are was were be been being am do does did done has have had will would can could should shall may
    might must""".split()
)
PERSONAL = frozenset("he she him his her hers himself herself".split())
_NEUTER = frozenset("it its itself they them their theirs themselves".split())
_DEMONSTRATIVE = frozenset("this these those".split())
_PREPOSITIONS = frozenset(
    """about after against at before behind beside besides by during for from in into like of on over since
    through to toward towards under until upon with within without""".split()
)
# Words after which a pronoun may refer back inside the same question ("X announced ..., and when did it ...").
_CLAUSE_MARKS = frozenset(
    "and but while whereas when where after before because although if that which who whom whose whether instead "
    "rather unlike".split()
)
# Nouns of time: "this week", "that year" point at the article's time, not at an earlier turn.
_TIME_NOUNS = frozenset(
    """year years week weeks month months day days date weekend morning afternoon evening night season time
    quarter summer winter spring fall autumn decade century""".split()
)
# Openings of a continuation: "And in Mexico?", "What about the others?", "So why did he go?".
_OPENERS = frozenset("and but also so or plus then same".split())
_OPENING_PAIRS = frozenset(
    """what+about how+about what+of what+else who+else where+else when+else anything+else how+so why+so
    why+not""".split()
)
# "other" + a word for a news source: the user wants outlets the previous answer did not cite.
SOURCE_NOUNS = frozenset(
    """outlet outlets source sources article articles report reports paper papers newspaper newspapers
    publication publications media site sites coverage""".split()
)
# Imperatives that open a request and carry no topic ("Name the…", "List…").
_IMPERATIVES = frozenset("name list describe tell give explain summarize summarise compare show".split())
# Verbs that carry no topic of their own in a question ("What did X say?").
_GENERIC = frozenset(
    """say said says tell told report reported reports write wrote written describe described think thought
    mean meant happen happened happens know explain explained according also else other others exactly really
    just then there here now""".split()
)
_STOP = (
    _WH
    | _AUX
    | PERSONAL
    | _NEUTER
    | _DEMONSTRATIVE
    | _PREPOSITIONS
    | _CLAUSE_MARKS
    | _IMPERATIVES
    | _GENERIC
    | frozenset(
        """a an the and or nor not no yes i me my we us our you your that any some all each every both either
        neither one ones much many more most less least such same than as so very too get got make made""".split()
    )
)
_GLUE = frozenset("of and de la del da di van von der al bin the for".split())
_SPEECH = frozenset("said says told added warned argued wrote stated claimed according".split())

_TOKEN = re.compile(r"[A-Za-z0-9\u00C0-\u024F][\w'’\u00C0-\u024F.&-]*")
_POSSESSIVE = re.compile(r"['’]s?$")
_MARKER = re.compile(r"\s*\[\d+\]")  # citation markers in an answer


# Abbreviations whose full stop does not end a sentence ("U.S. Attorney General…", "Mr. Smith").
_ABBREVIATION = re.compile(
    r"^(?:[A-Za-z]\.)+$|^(?:Mr|Mrs|Ms|Dr|St|Jr|Sr|No|Gen|Sen|Rep|Gov|Lt|Col|Capt|Prof|Inc|Co|Corp|Ltd|vs|v)\.$"
)


@dataclass(frozen=True, slots=True)
class Token:
    """A word of a question or answer, with what name-finding needs to know about its place."""

    text: str  # possessive stripped
    low: str
    start: int
    initial: bool  # first word of a sentence
    cap: bool
    poss: bool = False  # had a possessive "'s"
    spaced: bool = True  # only white space since the previous token (no comma, quote or dash between)


def word_tokens(text: str) -> list[Token]:
    """The words of `text`; a word is sentence-initial after . ? ! : ; or a line break (quotes aside)."""
    out: list[Token] = []
    end, previous = 0, ""
    for m in _TOKEN.finditer(text):
        gap = text[end : m.start()]
        stop = previous.endswith(".") and not _ABBREVIATION.match(previous)
        initial = not previous or stop or any(c in gap for c in ".?!:;\n")
        spaced, end, previous = not gap.strip(), m.end(), m.group(0)
        raw = m.group(0).rstrip(".")
        word = _POSSESSIVE.sub("", raw) or raw
        out.append(Token(word, word.lower(), m.start(), initial, word[:1].isupper(), word != raw, spaced))
    return out


def is_acronym(word: str) -> bool:
    """Short all-capital words ("US", "CEO", "AI") are too generic to anchor a topic alone."""
    letters = word.replace(".", "")
    return letters.isupper() and len(letters) <= 3


def names_in(tokens: list[Token], question: bool) -> list[str]:
    """Capitalised spans ("Trinidad and Tobago"); a sentence-initial function word is never a name.

    In a question the first word is a name when it is not a function word ("Miller?"); in running text a lone
    sentence-initial word ("Organised crime…") is not, unless the text also capitalises it mid-sentence.
    """
    mid_caps = {t.low for t in tokens if t.cap and not t.initial}
    spans: list[list[Token]] = []
    current: list[Token] = []
    pending_glue: list[Token] = []
    for i, t in enumerate(tokens):
        # A name goes on over spaces and glue words only: "Miller, the White House…" is two names, and so is
        # "Colombia's President Petro".
        adjacent = i > 0 and not t.initial and t.spaced and not (current and current[-1].poss)
        adjacent = adjacent and all(g.spaced for g in pending_glue)
        if t.cap and t.low not in _STOP | _GLUE or (t.cap and t.low in _GLUE and current and not t.initial):
            if t.initial and t.low in _STOP:
                current, pending_glue = [], []
                continue
            if current and adjacent:
                current.extend(pending_glue)
                current.append(t)
            else:
                if current:
                    spans.append(current)
                current = [t]
            pending_glue = []
        elif current and t.low in _GLUE and not pending_glue and t.spaced:
            pending_glue = [t]
        else:
            if current:
                spans.append(current)
            current, pending_glue = [], []
    if current:
        spans.append(current)
    names = []
    for span in spans:
        if span[0].initial and not question and span[0].low not in mid_caps:
            span = span[1:]  # "Using Caroline Ellison…": the first word is capitalised only as a sentence start
        while span and span[-1].low in _GLUE:
            span.pop()
        while span and span[0].low in _GLUE:
            span.pop(0)
        if span:
            names.append(" ".join(t.text for t in span))
    return names


def _outlet_aliases(outlet: str) -> list[tuple[str, int]]:
    """(alias, regex flags): the full name in any case, each part between " | " / " - " as capitalised."""
    aliases = [(outlet, re.IGNORECASE)]
    for part in re.split(r"\s+[|–—-]\s+", outlet):
        part = part.strip()
        if part != outlet and len(part) >= 3:
            aliases.append((part, 0))
        if part.lower().startswith("the ") and len(part.split()) >= 3:  # "The New York Times" → "New York Times"
            aliases.append((part[4:], 0))
    return aliases


def outlet_mentions(question: str, outlets: Iterable[str]) -> list[str]:
    """How the question names corpus outlets (as written in it): full name, or a part of it as a name."""
    found = []
    for outlet in outlets:
        for alias, flags in _outlet_aliases(outlet):
            m = re.search(rf"(?<!\w){re.escape(alias)}(?!\w)", question, flags)
            if m:
                found.append(m.group(0))
                break
    return found


def named_outlets(question: str, outlets: Iterable[str]) -> tuple[str, ...]:
    """The corpus outlets (full names) the question names."""
    return tuple(o for o in outlets if outlet_mentions(question, [o]))


def without_outlets(names: list[str], outlet_names: list[str]) -> list[str]:
    """Names minus outlet names, also where a name span merely contains one ("Dawn report" → "")."""
    parts = sorted({x.strip() for o in outlet_names for x in re.split(r"\s+[|–—-]\s+", o) + [o]}, key=len)[::-1]
    out = []
    for name in names:
        for o in parts:
            if len(o) >= 3:
                name = re.sub(rf"(?<!\w){re.escape(o)}(?!\w)", "|", name)
        for part in name.split("|"):  # what is left on either side of an outlet name, glue words trimmed
            words = part.split()
            while words and words[0].lower() in _GLUE:
                words.pop(0)
            while words and words[-1].lower() in _GLUE:
                words.pop()
            if words:
                out.append(" ".join(words))
    return out


def content_words(tokens: list[Token], names: Sequence[str] = ()) -> list[str]:
    """Topic words: not function words, not part of a name, 3+ characters (or a number)."""
    in_names = {w.lower() for n in names for w in n.split()}
    return [
        t.text.lower() if not t.cap else t.text
        for t in tokens
        if t.low not in _STOP and t.low not in in_names and (len(t.low) >= 3 or t.low.isdigit())
    ]


def _bound(tokens: list[Token], i: int) -> bool:
    """Whether the pronoun at `i` can refer to something earlier in the same question.

    True when a clause mark ("and", "while", "where", "instead of"…) stands between the pronoun and a name or
    topic word before it: "What did the Pentagon announce and when did it start?". A mark right before the
    pronoun is a preposition ("after that"), and "and" between two capitalised words is part of a name
    ("Navy and Marines"): neither opens a clause.
    """
    for j in range(i - 1, 0, -1):
        t = tokens[j]
        if t.low not in _CLAUSE_MARKS or (j == i - 1 and t.low in _PREPOSITIONS):
            continue
        if t.low in _GLUE and tokens[j + 1].cap and tokens[j - 1].cap:
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
        if t.cap and t.low not in _STOP and not (j == 0 and t.low in _IMPERATIVES):
            return True
        if t.low in {"which", "what", "whose"} and j + 1 < i and tokens[j + 1].low not in _STOP:
            return True
        if t.low == "who" and any(x.low not in _STOP for x in tokens[j + 1 : i]):
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
        possessive = t.low in {"his", "its", "their"} or (t.low == "her" and nxt and nxt not in _STOP)
        if t.cap and t.low not in _STOP and not (i == 0 and t.low in _IMPERATIVES):
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
        elif t.low in _NEUTER:
            if not (t.low == "it" and _expletive_it(toks, i)) and not _bound(toks, i):
                found.append(t.low)
        elif t.low in _DEMONSTRATIVE or t.low == "that":
            # "this week" is the article's time; "those who…" and "that of X" point ahead, not back.
            if nxt in _TIME_NOUNS or nxt == "of" or (t.low == "those" and nxt in {"who", "that", "which", "whose"}):
                continue
            # "that" is a conjunction or relative ("said that…", "the order that…") unless it ends the
            # question, follows a preposition ("after that"), or opens it ("Was that…", "Why was that?").
            if t.low == "that" and not (not nxt or prev in _PREPOSITIONS or i <= 2 or nxt in SOURCE_NOUNS):
                continue
            if not _bound(toks, i):
                found.append(t.low)
        elif t.low == "there":
            # Existential "there is/was/were…", "are there…" is not a place.
            if nxt in _AUX or prev in _AUX or nxt in {"seem", "seems", "appear", "appears", "remain", "remains"}:
                continue
            if not _bound(toks, i):
                found.append("there")
        elif t.low == "then" and (not nxt or prev in {"since", "by", "until", "till", "back", "before", "after"}):
            found.append("then")
        elif t.low in {"latter", "former", "same"} and prev == "the" and (not nxt or nxt in _AUX | {"one", "thing"}):
            found.append(f"the {t.low}")
    return found


def follow_up_reasons(question: str, outlets: Iterable[str] = ()) -> list[str]:
    """Why `question` leans on earlier turns (empty when it stands alone). `outlets`: the corpus's outlets."""
    toks = word_tokens(question)
    if not toks:
        return []
    reasons = []
    first, second = toks[0].low, toks[1].low if len(toks) > 1 else ""
    if first in _OPENERS:
        reasons.append(f"opens with '{toks[0].text}'")
    elif f"{first}+{second}" in _OPENING_PAIRS:
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
    text = _MARKER.sub("", answer)
    for outlet in outlets:
        text = text.replace(f"{outlet}: ", "\n")
    return re.sub(r"(?m)^[^:\n]{1,60}:\s", "", text)


def _is_speaker(name: str, sentence: str) -> bool:
    """Whether `sentence` has `name` saying something ("X, a spokesman, said…", "…, said X")."""
    verbs = "|".join(_SPEECH)
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
            out |= {t.low for t in tokens[max(0, j - 2) : j] if t.low not in _STOP}
        elif j >= 0 and tokens[j].low not in _STOP and not tokens[j].cap:
            out.add(tokens[j].low)
        end = i + len(words)
        if tokens[end - 1].poss and end < len(tokens) and tokens[end].low not in _STOP:
            out.add(tokens[end].low)
    return out
