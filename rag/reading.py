"""The question reader: one pass from the user's words (and the earlier turns) to what is searched. No LLM.

    question + earlier turns ──read──▶ Reading
        follow-up?  leans on earlier turns when it opens as a continuation ("And in Mexico?", "What about X?"),
                    asks for others ("the other outlets?", "who else?", "… too?"), holds a pronoun,
                    demonstrative or "there"/"then" with nothing in the question it could refer to, a definite
                    description ("the trial") of something the previous turn or the articles its answer cited
                    mention, or names nothing and has at most two topic words ("Why?", "What did Dawn say?")
        inherited   then: the names and most specific topic words of what the conversation is about; "And the
                    other outlets?" / "What did Dawn say?" search that topic within those outlets
        analysed    the outlets, dates and parts the (resolved) question names ──▶ sub-searches + notes

A self-contained question is searched exactly as asked, so a change of topic is never polluted by what came
before; docs/evaluation.md ("Conversation") measures both directions.

What the conversation is about is re-derived from the turns themselves (`_topic`, up to `MAX_DEPTH` back), so
a chain of follow-ups keeps its topic and each name's origin is known:
- names the questions gave, most recent first; and the name an answer gave when its question asked
  "who/where/which" ("Who said…?" → "Miller" is the "he" of the next turn; a bare "And the Justice
  Department's lawyer?" asks what the turn it continues asked), or when a "he/she" follow-up has no name to
  go on;
- topic words of those questions, ranked by how specific they are in this corpus (BM25 IDF: a word the
  corpus never uses cannot help), fewer when the question says much itself (every carried word also
  dilutes the question's own words in BM25, in the embedding and in the extractive answer's sentence scores);
- a continuation that brings its own subject ("And Colombia's president?", "What about the defense lawyer?")
  asks the same thing about something else: what it replaces (the previous question's names, the words bound
  to them such as "prime minister of …", the people earlier answers supplied) is dropped, older names stay.

Outlets and dates: "Between the report from The Verge on November 7, 2023, ... and the TechCrunch article ..."
gives one SubQuery per named source (searched within that outlet, on/around that date; a date belongs to the
nearest outlet named in its clause), a SubQuery for a period named apart from any outlet, and one per part
of a many-part question. Words, names, outlets and dates are read by rag.text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date

from rag.text.asks import Kind, asked_kind, asked_noun, holds_kind
from rag.text.dates import MONTH_WORD, DateMention, find_dates
from rag.text.markers import strip_markers
from rag.text.names import content_words, is_acronym, is_place, is_speaker, names_in
from rag.text.outlets import OutletMatcher, OutletMention, source_names
from rag.text.sentences import sentence_spans
from rag.text.tokens import (
    AUX,
    CLAUSE_MARKS,
    DEMONSTRATIVE,
    GLUE,
    IMPERATIVES,
    NEUTER,
    PERSONAL,
    PREPOSITIONS,
    STOP,
    WH,
    Token,
    tokenize,
    word_tokens,
)
from rag.types import SubQuery, Turn

#: The corpus's outlets: their names, or the matcher built from them.
Outlets = Sequence[str] | OutletMatcher

# Nouns of time: "this week", "that year" point at the article's time, not at an earlier turn.
TIME_NOUNS = frozenset(
    """year years week weeks month months day days date weekend morning afternoon evening night season time
    quarter summer winter spring fall autumn decade century""".split()
)
# Openings of a continuation: "And in Mexico?", "What about the others?", "So why did he go?".
OPENERS = frozenset("and but also so or plus then same".split())
OPENING_PAIRS = frozenset(
    """what+about how+about what+of what+else who+else where+else when+else anything+else how+so why+so
    why+not""".split()
)
# "other" + a word for a news source: the user wants outlets the previous answer did not cite.
SOURCE_NOUNS = frozenset(
    """outlet outlets source sources article articles report reports paper papers newspaper newspapers
    publication publications media site sites coverage""".split()
)

#: At most this many names and topic words are carried (more dilutes the question's own words; measured on the
#: dialogue fixtures: 3 to 6 words score the same, see docs/evaluation.md).
MAX_NAMES = 3
MAX_WORDS = 4
#: A question with at least this many names and topic words of its own ("What did its CEO say about the
#: settlement?") carries at most `MAX_WORDS_WHEN_SPECIFIC` words: it needs the referent, not the topic.
OWN_ENOUGH = 2
MAX_WORDS_WHEN_SPECIFIC = 2
#: What a sentence saying the noun a "which <noun>" question asks for ("…her father's 1983 film") adds to the
#: score of the names in it, in shared question words: the name the question asked for is in that sentence.
NOUN_BONUS = 3.0
#: Turns looked back through to re-derive what a chain of follow-ups is about (each step re-reads one turn).
MAX_DEPTH = 4
#: Names taken from the previous answer for a "who/where/which" question: the answer's leading entities.
MAX_ANSWER_NAMES = 1


@dataclass(frozen=True, slots=True)
class Reading:
    """How a question was read in its conversation: what is asked, about whom, where and when, and why."""

    question: str  # the user's words
    text: str  # what to search: the question, plus what it inherits (or only that, for "And the others?")
    asks: Kind | None = None  # the kind of answer asked for (a bare "And X?" asks what the turn it continues asked)
    names: tuple[str, ...] = ()  # names the question gives (outlets and short acronyms left out)
    words: tuple[str, ...] = ()  # its topic words
    outlets: tuple[str, ...] = ()  # corpus outlets the searched text names, in order
    dates: tuple[DateMention, ...] = ()
    since: str | None = None  # hull of the ranges the dates ask for
    until: str | None = None
    subqueries: tuple[SubQuery, ...] = ()  # per-source and per-part searches
    unknown_sources: tuple[str, ...] = ()  # named as a source, not a corpus outlet ("a Bloomberg article")
    notes: tuple[str, ...] = ()  # what the analysis inferred, for the user
    # -- what it inherits from earlier turns, and why --
    follow_up: bool = False
    reasons: tuple[str, ...] = ()  # why it was taken as a follow-up ("'he'", "opens with 'And'")
    carried_names: tuple[str, ...] = ()  # names taken from earlier turns (questions, then answers)
    carried_words: tuple[str, ...] = ()  # topic words taken from earlier turns
    exclude_outlets: tuple[str, ...] = ()  # "the other outlets": those the previous turn named, else cited
    only_outlets: tuple[str, ...] = ()  # "What did Dawn say?": the outlets a question about sources names
    # the most specific words of the previous answer's quotes: what a retry searches when the carried names fail
    answer_words: tuple[str, ...] = ()

    @property
    def carried(self) -> tuple[str, ...]:
        """Everything taken from earlier turns: names first, then topic words."""
        return self.carried_names + self.carried_words

    @property
    def parts(self) -> tuple[str, ...]:
        """The question's parts searched on their own (none for a one-part question)."""
        return tuple(sq.text for sq in self.subqueries if sq.kind == "part")

    def narrowed(self, known: Sequence[str]) -> tuple[str, ...]:
        """The outlets the reader itself narrows the search to (never a user's filter); () for all of them."""
        chosen = self.only_outlets or tuple(o for o in known if o not in self.exclude_outlets)
        return () if len(chosen) == len(known) else chosen

    def narrowed_refusal(self, outlets: Sequence[str], passages: Iterable[str]) -> str:
        """Why a search within the outlets the reader chose answered nothing: "Evrim Ağacı and Truthout do not
        mention Stephen Miller" ("…mention X but not Y" when the `passages` found name part of the topic, "…mention X
        but do not answer this" when they name all of it)."""
        return self._lacking(outlets, self.topic_named(passages))

    def unmentioned_names(self, outlets: Sequence[str], mentioned: Callable[[str], bool]) -> str | None:
        """What an answer from the outlets the reader chose lacks, when it is a carried name those outlets never
        use anywhere (`mentioned`: whether any of their articles does): "Al Jazeera, Dawn and TC Sentinel mention
        Mexico but not Sheinbaum." None when they use every carried name."""
        missing = {n for n in self.carried_names if not mentioned(n)}
        if not missing:
            return None
        return self._lacking(outlets, [t for t in self.topic if t not in missing])

    def _lacking(self, outlets: Sequence[str], found: Sequence[str]) -> str:
        """ "`outlets` mention `found` but not the rest of the topic" (or do not mention it, or do not answer)."""
        where = outlets_listing(outlets)
        do, mention = ("does", "mentions") if len(outlets) == 1 else ("do", "mention")
        if not self.topic:
            return f"{where} {do} not answer this."
        missing = [t for t in self.topic if t not in found]
        if not found:
            return f"{where} {do} not mention {listing(missing)}."
        if missing:  # "…mention Everton but not Bill Kenwright.": what they lack, not only what they have
            return f"{where} {mention} {listing(found)} but not {listing(missing)}."
        return f"{where} {mention} {listing(found)} but {do} not answer this."

    @property
    def topic(self) -> tuple[str, ...]:
        """What a follow-up carried that its outlets must speak of: the names, else the topic words."""
        return self.carried_names or self.carried_words

    def topic_in(self, passages: Iterable[str]) -> bool:
        """Whether any of `passages` names the carried topic (case aside)."""
        return bool(self.topic_named(passages))

    def topic_named(self, passages: Iterable[str]) -> list[str]:
        """The parts of the carried topic that any of `passages` names (case aside)."""
        texts = [p.lower() for p in passages]
        return [t for t in self.topic if any(t.lower() in p for p in texts)]

    def rarest_carried(self, idf: Callable[[str], float]) -> str | None:
        """The carried topic word the corpus uses least (`idf` of its terms), when the question has no topic of
        its own ("What did the other outlets say?" after "Why did the boat strikes pause in February?": "pause"):
        the word the other outlets must use to be on the same story."""
        named = [n for n in self.carried_names if not MONTH_WORD.fullmatch(n)]
        if self.words or self.names or named or not self.carried_words:
            return None  # a carried name ("him": Stephen Miller) is the topic then, not a word; a month is not
        scored = [(max(map(idf, terms)), w) for w in self.carried_words if (terms := tokenize([w])[0])]
        return max(scored)[1] if scored else None

    @staticmethod
    def unmentioned(outlets: Sequence[str], word: str) -> str:
        """ "Dawn and Truthout do not use the word “pause”." """
        return f"{outlets_listing(outlets)} {'does' if len(outlets) == 1 else 'do'} not use the word “{word}”."

    def looser(self) -> Reading | None:
        """The same search without the carried names, for when the search with them found no answer: the
        other outlets need not name the person one outlet quoted ("What did the other outlets say about critics
        of the approach?" after "Who is Rebecca Bill Chavez?"). None when nothing would be left to search."""
        if not self.carried_names:
            return None
        asked = searched_words(self.question)
        base = asked if self.text.startswith(asked) else ""
        text = " ".join([base, *self.carried_words]).strip()
        # "What did the other outlets say about him?": the person is all the question asks about; the words
        # earlier questions carried ("long chairman old died") are no topic without him.
        if not (self.words or self.names) and any(r.strip("'") in PERSONAL for r in self.reasons):
            return None
        if not (self.words or self.names or self.carried_words) or not text:
            # Nothing but the names was carried ("And Dawn?" after Al Jazeera on Maduro): the other outlet may
            # say the same without the name ("seized the president of Venezuela"), in the previous quotes' words.
            if not self.answer_words:
                return None
            text = " ".join([base, *self.answer_words]).strip()
            reasons = (*self.reasons, "retried with the previous answer's words")
            return replace(self, text=text, carried_names=(), carried_words=self.answer_words, reasons=reasons)
        return replace(self, text=text, carried_names=(), reasons=(*self.reasons, "retried without the names"))

    def note(self) -> str:
        """One line for the user about what was inferred from earlier turns (empty for a self-contained one)."""
        if not self.follow_up:
            return ""
        parts = [f"follow-up ({', '.join(self.reasons)})"]
        if self.carried:
            parts.append("searched with: " + ", ".join(self.carried))
        if self.exclude_outlets:
            parts.append("other outlets than: " + ", ".join(self.exclude_outlets))
        if self.only_outlets:
            parts.append("only: " + ", ".join(self.only_outlets))
        return "; ".join(parts)


def listing(items: Sequence[str]) -> str:
    """ "A", "A and B", "A, B and C"."""
    return " and ".join([", ".join(items[:-1]), items[-1]] if len(items) > 1 else items)


def outlets_listing(outlets: Sequence[str]) -> str:
    """The outlets a search was narrowed to, for a sentence: named when they are few, else counted."""
    return listing(outlets) if len(outlets) <= 4 else f"The {len(outlets)} outlets searched"


def _matcher(outlets: Outlets) -> OutletMatcher:
    return outlets if isinstance(outlets, OutletMatcher) else OutletMatcher.of(outlets)


# -- does it lean on earlier turns? ----------------------------------------------------------------------------


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


def _possessive_bound(tokens: list[Token], i: int, not_persons: frozenset[str] = frozenset()) -> bool:
    """Whether a possessive ("its", "his", "their") can belong to something named before it in the question.

    A name before it ("Did Reuters change its story?") or a "which/what + noun" phrase ("Which company … its
    platform") can own it; "What did its CEO say?" or "What was her role?" have no owner in the question. A
    personal one ("his", "her") is not owned by the words in `not_persons` (an outlet's name: in "What did
    Fortune say about his ties to Trump?" "his" is someone an earlier turn named).
    """
    personal = tokens[i].low in PERSONAL
    for j in range(i):
        t = tokens[j]
        if personal and t.low in not_persons:
            continue
        if t.cap and t.low not in STOP and not (j == 0 and t.low in IMPERATIVES):
            return True
        if t.low in {"which", "what", "whose"} and j + 1 < i and tokens[j + 1].low not in STOP:
            return True
        if t.low == "who" and any(x.low not in STOP for x in tokens[j + 1 : i]):
            return True
    return False


def anaphora(question: str, not_persons: frozenset[str] = frozenset()) -> list[str]:
    """The words of `question` that point at something it does not name itself (he, it, there, that…).
    `not_persons`: lower-cased words of names that cannot be a "he", "she" or "his" (the outlets it names)."""
    toks = word_tokens(question)
    names_so_far = 0
    found = []
    for i, t in enumerate(toks):
        nxt = toks[i + 1].low if i + 1 < len(toks) else ""
        prev = toks[i - 1].low if i > 0 else ""
        possessive = t.low in {"his", "its", "their"} or (t.low == "her" and nxt and nxt not in STOP)
        if t.cap and t.low not in STOP and not (i == 0 and t.low in IMPERATIVES) and t.low not in not_persons:
            names_so_far += 1
        if possessive:
            if not _possessive_bound(toks, i, not_persons) and not _bound(toks, i):
                found.append(t.low)
        elif t.low in {"he", "she"}:
            # "What did Hegseth say he wanted?" is bound; in "Which Apple executive did she question?" the
            # name is in the wh-phrase and "she", right after the auxiliary, is the main clause's subject.
            if (names_so_far == 0 or prev in AUX) and not _bound(toks, i):
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
            # question, follows a preposition ("after that") or an auxiliary ("How long has that record
            # stood?": no conjunction stands there), or opens it ("Was that…", "Why was that?").
            if t.low == "that" and not (not nxt or prev in PREPOSITIONS | AUX or i <= 2 or nxt in SOURCE_NOUNS):
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


_OTHER_SOURCES = re.compile(
    r"\b(?:the\s+)?others?\s+(?:" + "|".join(sorted(SOURCE_NOUNS, key=len, reverse=True)) + r")\b", re.I
)


def searched_words(question: str) -> str:
    """The question as searched: "the other outlets" becomes "they", since it says where to look (the reader
    narrows the outlets), not what about: searched, "outlets" finds a passage on "trust in national news
    outlets"."""
    return _OTHER_SOURCES.sub("they", question)


def wants_other_outlets(question: str) -> bool:
    """ "And the other outlets?", "What do other sources say?": outlets other than those already cited."""
    lows = [t.low for t in word_tokens(question)]
    return any(a in {"other", "others"} and b in SOURCE_NOUNS for a, b in zip(lows, lows[1:], strict=False))


@dataclass(frozen=True, slots=True)
class _Own:
    """What a question says itself: its tokens, names, topic words and the outlets it names."""

    question: str
    tokens: list[Token]
    names: list[str]
    words: list[str]
    outlets: tuple[str, ...]  # corpus outlets (full names)
    mentioned: list[str]  # how it names them


def _own(question: str, matcher: OutletMatcher) -> _Own:
    toks = word_tokens(question)
    mentions = matcher.find(question)
    asked = [m.text for m in mentions]
    # A piece of an outlet's name is not a name of its own ("Jazeera" of "Al Jazeera", "News" of "Sporting News").
    inside = {w.lower() for a in asked for w in a.split()}
    names = [
        n
        for n in matcher.without(names_in(toks, question=True))
        if not is_acronym(n) and not {w.lower() for w in n.split()} <= inside
    ]
    words = [w for w in content_words(toks, names + asked) if w.lower() not in SOURCE_NOUNS]
    return _Own(question, toks, names, words, tuple(dict.fromkeys(o for m in mentions for o in m.outlets)), asked)


#: A question with no name and at most this many topic words may point back with a definite description.
MAX_WORDS_DEFINITE = 3
_DETERMINERS = frozenset("the his her its their".split())


def definite_references(own: _Own, earlier: str) -> list[str]:
    """ "How long has the deal been in place?", "What did Sporting News say about his deal?": a definite or
    possessive noun phrase whose noun the previous turn used, in a question that names nothing and says little
    itself, is that turn's deal, not any deal of the corpus."""
    if own.names or not earlier or len(own.words) > MAX_WORDS_DEFINITE:
        return []
    used = {t.low for t in word_tokens(earlier)}
    toks = own.tokens
    found = []
    for t, nxt in zip(toks, toks[1:], strict=False):
        noun = nxt.low
        if t.low in _DETERMINERS and not nxt.cap and noun not in STOP | TIME_NOUNS | SOURCE_NOUNS and noun in used:
            found.append(f"{t.low} {noun}")
    return found


#: The text of an indexed article by id ("" when unknown): what the earlier answers' cited articles say.
ArticleText = Callable[[str], str]


def _no_articles(article_id: str) -> str:
    return ""


def _earlier(history: Sequence[Turn], article: ArticleText = _no_articles) -> str:
    """The words a definite description can point back to: the previous turn's question and answer, and the
    articles its answer cited ("When was the trial scheduled to start?" after quotes of a ruling whose article
    goes on to the trial)."""
    if not history:
        return ""
    turn = history[-1]
    return " ".join([turn.question, turn.answer, *(article(a) for a in turn.articles)])


def shortened_names(own: _Own, previous: Turn | None, matcher: OutletMatcher) -> dict[str, str]:
    """ "How long had Clark been in the job?" after a turn on Dave Clark: a one-word name of the question that
    is the last word of a person's name the previous question or answer gave (news prose shortens a name to the
    surname after its first mention) stands for that name. The short name → the full one; the question is then
    searched with the full name added, and nothing else carried: it says what it asks itself."""
    if previous is None or not own.names:
        return {}
    earlier = [previous.question, _answer_text(previous.answer, matcher.outlets)]
    before = [n for text in earlier for n in matcher.without(names_in(word_tokens(text), question=True))]
    found = {}
    for name in own.names:
        if " " in name or any(b.lower() == name.lower() for b in before):
            continue
        full = next((b for b in before if 2 <= len(b.split()) <= 3 and b.split()[-1].lower() == name.lower()), None)
        if full is not None:
            found[name] = full
    return found


def _reasons(question: str, own: _Own, earlier: str = "") -> list[str]:
    toks = own.tokens
    if not toks:
        return []
    reasons = []
    first, second = toks[0].low, toks[1].low if len(toks) > 1 else ""
    if first in OPENERS:
        reasons.append(f"opens with '{toks[0].text}'")
    elif f"{first}+{second}" in OPENING_PAIRS:
        reasons.append(f"opens with '{toks[0].text} {toks[1].text}'")
    lows = [t.low for t in toks]
    # "Who else…?", "…too?", "the other outlets?"; a bare "other(s)" only when the question names nothing
    # ("Which other countries attended?"), since "compared to other models" in a full question is its own.
    if (
        "else" in lows
        or wants_other_outlets(question)
        or (not own.names and any(w in {"other", "others"} for w in lows))
        or question.rstrip(" ?!.").lower().endswith((" too", " as well", " also"))
    ):
        reasons.append("asks about others")
    outlet_words = frozenset(w.lower() for m in own.mentioned for w in m.split())
    reasons += [f"'{w}'" for w in dict.fromkeys(anaphora(question, outlet_words))]
    reasons += [f"'{w}'" for w in dict.fromkeys(definite_references(own, earlier)) if f"'{w}'" not in reasons]
    if not own.names and len(content_words(toks)) <= 2:
        reasons.append("names nothing" if own.mentioned else "too short to stand alone")
    return reasons


def follow_up_reasons(question: str, outlets: Outlets = ()) -> list[str]:
    """Why `question` leans on earlier turns (empty when it stands alone). `outlets`: the corpus's outlets."""
    return _reasons(question, _own(question, _matcher(outlets)))


def needs_context(question: str, outlets: Outlets = ()) -> bool:
    """Whether `question` leans on earlier turns."""
    return bool(follow_up_reasons(question, outlets))


# -- names an answer gives -------------------------------------------------------------------------------------


def _answer_text(answer: str, outlets: Iterable[str]) -> str:
    """The quoted words of an answer: citation markers and the extractive answer's "Outlet: " prefixes removed."""
    text = strip_markers(answer)
    for outlet in outlets:
        text = text.replace(f"{outlet}: ", "\n")
    return re.sub(r"(?m)^[^:\n]{1,60}:\s", "", text)


def answer_names(
    answer: str,
    outlets: Outlets = (),
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
    `places` a name after "in"/"at" does (the answer to "where"). A sentence saying the noun a "which <noun>"
    question asks for adds `NOUN_BONUS` ("…her father's 1983 film" for "Which Scorsese film…?"). Names in
    `skip` (or sharing a word with one) and outlets are left out.
    """
    matcher, skip = _matcher(outlets), list(skip)
    text = _answer_text(answer, matcher.outlets)
    skipped = {w.lower() for s in skip for w in s.split()}
    asked = set(tokenize([question])[0]) - {t for s in skip for t in tokenize([s])[0]}
    mid_caps = {t.low for t in word_tokens(text) if t.cap and not t.initial}
    noun = asked_noun(question)
    noun_terms = set(tokenize([noun])[0]) if noun else set()
    best: dict[str, float] = {}
    extra: dict[str, float] = {}
    for s, e in sentence_spans(text):
        sentence = text[s:e]
        toks = word_tokens(sentence)
        toks = [
            t
            if t.low in mid_caps or not t.initial or _opens_name(toks, i)
            else Token(t.text, t.low, t.start, True, False)
            for i, t in enumerate(toks)
        ]
        terms = set(tokenize([sentence])[0])
        shared = len(asked & terms) + (NOUN_BONUS if noun_terms and noun_terms <= terms else 0.0)
        for n in matcher.without(names_in(toks, question=True)):
            if is_acronym(n) or any(w.lower() in skipped for w in n.split()):
                continue
            if n in best:
                extra[n] = extra.get(n, 0.0) + 0.5
            bonus = 1.0 if (speakers and is_speaker(n, sentence)) or (places and is_place(n, sentence)) else 0.0
            best[n] = max(best.get(n, 0.0), shared + bonus)
    order = {n: i for i, n in enumerate(best)}
    return sorted(best, key=lambda n: (-(best[n] + extra.get(n, 0.0)), order[n]))


def _opens_name(tokens: list[Token], i: int) -> bool:
    """Whether the capitalised sentence-initial word at `i` opens a name joined by "of" and the like ("King of
    Comedy was slept on", "Bank of America said"): capitalised only where it stands, it would be passed over."""
    nxt = tokens[i + 1 : i + 3]
    return len(nxt) == 2 and tokens[i].cap and nxt[0].low in GLUE - {"and", "the", "for"} and nxt[1].cap


def described_as(answer: str, names: Sequence[str], matcher: OutletMatcher) -> list[str]:
    """How the answer's quotes describe `names`: words of at least two of the sentences naming them
    ("Venezuelan", "president" for "Maduro"), most frequent first, so another outlet that does not give the
    name ("seized the president of Venezuela") can still be searched for."""
    text = _answer_text(answer, matcher.outlets)
    parts = {w.lower() for n in names for w in n.split()}
    counts: dict[str, int] = {}
    for s, e in sentence_spans(text):
        toks = word_tokens(text[s:e])
        if parts & {t.low for t in toks}:
            for w in dict.fromkeys(w.lower() for w in content_words(toks, names)):
                counts[w] = counts.get(w, 0) + 1
    common = [w for w in counts if counts[w] >= 2 and not w.isdigit()]
    return sorted(common, key=lambda w: -counts[w])[:MAX_WORDS]


def _bare_continuation(question: str) -> bool:
    """ "And the Justice Department's lawyer?", "What about Mexico?": a continuation with no question word of
    its own, which asks what the turn it continues asked ("And what does Activision say?" asks itself)."""
    lows = [t.low for t in word_tokens(question)]
    if len(lows) > 1 and lows[0] in WH and lows[1] in PREPOSITIONS:  # "What about …?", "What of …?"
        lows = lows[2:]
    elif lows and lows[0] in OPENERS:
        lows = lows[1:]
    else:
        return False
    return not any(w in WH for w in lows)


def asked_by(history: Sequence[Turn]) -> str:
    """What the last turn of `history` asks: its question, or, for a bare continuation, the question of the
    turn it continues ("Who is the judge…?" for "And the Justice Department's lawyer?")."""
    for turn in reversed(history):
        if not _bare_continuation(turn.question):
            return turn.question
    return history[0].question if history else ""


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


# -- what a follow-up inherits ---------------------------------------------------------------------------------


def cited_outlets(turn: Turn, outlets: Iterable[str] = ()) -> list[str]:
    """Outlets the turn's answer cited: its recorded list, else the extractive answer's "Outlet: " lines."""
    if turn.outlets:
        return list(turn.outlets)
    return [o for o in outlets if re.search(rf"(?m)^{re.escape(o)}: ", turn.answer)]


def answering_outlets(turn: Turn, matcher: OutletMatcher) -> list[str]:
    """The cited outlets whose quotes say what the turn's question asked: those sharing a word the question
    says itself (not only words it carried), so "the other outlets" are other than those that answered, not
    other than every outlet quoted for context. When the question asked for a figure, date or length, only those
    whose quotes hold one answered, if any do. All cited outlets when none (or the answer's text) tells."""
    cited = cited_outlets(turn, matcher.outlets)
    own = _own(turn.question, matcher)
    asked = set(tokenize([" ".join(own.words + own.names)])[0])
    lines = {o: " ".join(re.findall(rf"(?m)^{re.escape(o)}: (.*)$", turn.answer)) for o in cited}
    answered = [o for o in cited if asked & set(tokenize([lines[o]])[0])]
    kind = asked_kind(turn.question)
    if kind is not None and kind != "name":
        # "When was the deal approved?": an outlet whose quotes hold no date was quoted on the deal, not on when.
        dated = [o for o in answered if holds_kind(lines[o], kind)]
        answered = dated or answered
    return answered or cited


def _dedupe(items: Iterable[str], against: Iterable[str]) -> list[str]:
    """Items whose BM25 terms are not all already in `against` or in an earlier item."""
    seen = {t for text in against for t in tokenize([text])[0]}
    out = []
    for item in items:
        terms = set(tokenize([item])[0])
        if terms and not terms <= seen:
            out.append(item)
            seen |= terms
    return out


def _rank(words: list[str], specificity: Callable[[str], float] | None, limit: int) -> list[str]:
    """The `limit` most specific words (rarest in the corpus first); in order of appearance without a scale."""
    if specificity is None:
        return words[:limit]
    scored = [(specificity(w), i, w) for i, w in enumerate(words)]
    best = sorted((x for x in scored if x[0] > 0), key=lambda x: (-x[0], x[1]))[:limit]
    return [w for _, _, w in sorted(best, key=lambda x: x[1])]


def corpus_specificity(retriever: object) -> Callable[[str], float]:
    """`specificity` for `read` from a retriever's BM25 statistics (`knows(term)`, `idf(term)`)."""

    def specificity(word: str) -> float:
        terms = [t for t in tokenize([word])[0] if retriever.knows(t)]  # type: ignore[attr-defined]
        return max((retriever.idf(t) for t in terms), default=0.0)  # type: ignore[attr-defined]

    return specificity


@dataclass(slots=True)
class _Topic:
    """What a turn was about, as later turns inherit it."""

    names: list[str]  # names the questions gave, most recent first
    referents: list[str]  # names the answers gave ("Who said…?" → "Miller"), most recent first
    words: list[str]  # topic words, most recent first
    about_sources: bool = False  # the turn only asked about sources ("And the other outlets?")


def _topic(history: Sequence[Turn], matcher: OutletMatcher, depth: int, article: ArticleText) -> _Topic:
    """The topic after the last turn of `history`, re-derived from the turns (at most `depth` back)."""
    turn = history[-1]
    own = _own(turn.question, matcher)
    earlier = _earlier(history[:-1], article) if len(history) > 1 and depth > 0 else ""
    reasons = _reasons(turn.question, own, earlier) if earlier else []
    if not reasons:
        full = shortened_names(own, history[-2], matcher) if len(history) > 1 else {}
        return _Topic([full.get(n, n) for n in own.names], [], own.words)
    return _follow(own, reasons, history[:-1], matcher, depth - 1, article)


def _follow(
    own: _Own, reasons: list[str], history: Sequence[Turn], matcher: OutletMatcher, depth: int, article: ArticleText
) -> _Topic:
    """The topic of a follow-up that says `own` itself: its own names and words on top of what it inherits."""
    previous = history[-1]
    before = _topic(history, matcher, depth, article)
    prev = _own(previous.question, matcher)
    names, words = own.names, own.words
    pronoun = any(r.strip("'") in PERSONAL for r in reasons)
    continuation = any(r.startswith("opens with") for r in reasons)
    inherited_names, referents, inherited_words = before.names, before.referents, before.words
    if continuation and (names or (words and not pronoun)):
        # "And Colombia's president?", "What about the defense lawyer?": the same question about something
        # else. What it replaces (the previous question's own names, the words bound to them, the people
        # earlier answers supplied) gives way; older names stay as the topic.
        gone = _replaced(own, prev)
        # A name replaced goes with its longer form from an older turn ("Haaland" replaced: "Erling Haaland").
        gone_names = {w for n in prev.names if n.lower() in gone for w in n.lower().split()}
        inherited_names = [
            n for n in inherited_names if n.lower() not in gone and not gone_names & set(n.lower().split())
        ]
        inherited_words = [w for w in inherited_words if w.lower() not in gone]
        referents = []
    elif previous.answer and (asked_kind(asked_by(history)) == "name" or (pronoun and not before.names)):
        # "Who said…?" / "Where was…?" answered with a name: that name is what "he", "there" or "it" means;
        # so is the answer to "And the Justice Department's lawyer?" after "Who is the judge…?".
        asked = word_tokens(asked_by(history))
        wh = asked[0].low if asked else ""
        # A name any of the questions gave is not what they asked for ("Google" of "Who is the judge in US v.
        # Google?" stays a question's name even after "And the Justice Department's lawyer?" replaced it).
        asked_names = [n for turn in history[-MAX_DEPTH:] for n in _own(turn.question, matcher).names]
        found = answer_names(
            previous.answer,
            matcher,
            skip=[*before.names, *names, *asked_names],
            question=previous.question,
            speakers=pronoun or wh in {"who", "whom"},
            places=wh == "where",
        )
        referents = found[:MAX_ANSWER_NAMES] + referents
    about_sources = not names and not words and (wants_other_outlets(own.question) or bool(own.outlets))
    return _Topic(names + inherited_names, referents, words + inherited_words, about_sources)


def _replaced(own: _Own, prev: _Own) -> set[str]:
    """What of the previous question (`prev`) a continuation (`own`: "And X?") replaces, lower-cased: the part X
    stands in parallel to. A name sharing a word with one of the previous names replaces that one only ("And
    Game 3?" after "…the final score of Game 2 of the World Series?": the World Series stays, and so does the
    frame, since it asks for Game 3's final score). Words without a name, whose noun the previous question
    used, replace the words before that noun ("And on the second ballot?" after "…against Jim Jordan on his
    third ballot…": "third" goes, Jim Jordan stays); other words without a name replace nothing. Otherwise X
    replaces every name the previous question gave, with the words bound to them."""
    own_names = {w.lower() for n in own.names for w in n.split()}
    own_terms = set(tokenize([" ".join(own.words)])[0]) if own.words else set()
    if not own.names and own_terms:
        toks = prev.tokens
        shared = [i for i, t in enumerate(toks) if set(tokenize([t.low])[0]) & own_terms]
        if shared:
            return {toks[i - 1].low for i in shared if i > 0 and toks[i - 1].low not in STOP and not toks[i - 1].cap}
        # Words in parallel to nothing the previous question said ("And with 128GB of memory and 8TB of
        # storage?" after "How much does the M3 Max MacBook Pro cost?", "What about the defense lawyer?"
        # after "Who is the prosecutor in the Bankman-Fried trial?") narrow its subject; they replace no name.
        return set()
    parallel = [n for n in prev.names if own_names & {w.lower() for w in n.split()}]
    if parallel:
        return {n.lower() for n in parallel}
    gone = {n.lower() for n in prev.names}
    for n in prev.names:
        # "…prime minister of X?" + "And Y's president?": "prime minister" goes with X; but "X's
        # sentencing?" + "And Y's?" asks for Y's sentencing: with no words of its own, the frame stays.
        # "…prime minister of X?" + "What about Y?" asks about Y itself: the frame goes as well.
        gone |= attached_words(prev.tokens, n) if own.words or not any(t.poss for t in own.tokens) else set()
    return gone


@dataclass(frozen=True, slots=True)
class _Resolved:
    text: str
    reasons: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    words: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    only: tuple[str, ...] = ()


def _resolve(
    question: str,
    own: _Own,
    history: Sequence[Turn],
    matcher: OutletMatcher,
    specificity: Callable[[str], float] | None,
    article: ArticleText = _no_articles,
) -> _Resolved:
    """What to search for `question` given the earlier turns (most recent last)."""
    reasons = _reasons(question, own, _earlier(history, article)) if history else []
    if not reasons:
        full = shortened_names(own, history[-1], matcher) if history else {}
        if full:  # "Clark" after Dave Clark: the full name is searched too, nothing else is carried
            why = tuple(f"'{n}' is {f}" for n, f in full.items())
            return _Resolved(f"{question} {' '.join(full.values())}", why, tuple(full.values()))
        return _Resolved(question)
    topic = _follow(own, reasons, history, matcher, MAX_DEPTH, article)
    names = _dedupe(topic.referents[:MAX_ANSWER_NAMES] + topic.names[len(own.names) :][:MAX_NAMES], [question])
    # A question that says much itself needs only the names it refers to; a bare "And in Mexico?" needs the topic.
    budget = MAX_WORDS if len(own.words) + len(own.names) < OWN_ENOUGH else MAX_WORDS_WHEN_SPECIFIC
    inherited = _dedupe(topic.words[len(own.words) :], [question, *names])
    # The previous question's own words first ("And his fight with Floyd Mayweather?" after "…the fight's
    # pay-per-view sales?" asks for its pay-per-view sales, not the first turn's scorecards); older ones fill up.
    recent = {w.lower() for w in _own(history[-1].question, matcher).words}
    first = _rank([w for w in inherited if w.lower() in recent], specificity, budget)
    rest = _rank([w for w in inherited if w.lower() not in recent], specificity, budget - len(first))
    words = [w for w in inherited if w in first or w in rest]
    carried = names + words
    previous = history[-1]
    # "And the other outlets?": other than the outlets the previous question named ("What did Dawn report…?"),
    # else than those its answer cited.
    exclude: tuple[str, ...] = ()
    if wants_other_outlets(question):
        exclude = matcher.named(previous.question) or tuple(answering_outlets(previous, matcher))
    only = own.outlets
    # A question only about the sources ("And the other outlets?", "What did Dawn say?") searches the
    # previous topic within those sources: its own words name no topic and would only dilute the search.
    if topic.about_sources and carried and (exclude or only):
        return _Resolved(" ".join(carried), tuple(reasons), tuple(names), tuple(words), exclude, only)
    text = f"{searched_words(question)} {' '.join(carried)}".strip()
    return _Resolved(text, tuple(reasons), tuple(names), tuple(words), exclude)


# -- outlets, dates and parts --------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Analysis:
    outlets: list[str] = field(default_factory=list)
    subqueries: list[SubQuery] = field(default_factory=list)
    dates: list[DateMention] = field(default_factory=list)
    since: str | None = None
    until: str | None = None
    unknown_sources: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# A clause ends at these; a date belongs to the outlet mention in its clause.
_CLAUSE_BREAK = re.compile(r",\s+(?:and|but|while|whereas)\b|\band\s+(?:the|a|an)\b|;|\?|\bwhile\b|\bwhereas\b")


def _clause(question: str, start: int, end: int) -> tuple[int, int]:
    left = 0
    for m in _CLAUSE_BREAK.finditer(question, 0, start):
        left = m.end()
    after = _CLAUSE_BREAK.search(question, end)
    right = after.start() if after else len(question)
    return left, right


def _hull(dates: Sequence[DateMention]) -> tuple[str | None, str | None]:
    if not dates:
        return None, None
    sinces = [d.since for d in dates]
    untils = [d.until for d in dates]
    since = None if any(s is None for s in sinces) else min(s for s in sinces if s)
    until = None if any(u is None for u in untils) else max(u for u in untils if u)
    return since, until


def _analyse(question: str, matcher: OutletMatcher, reference: date | None) -> _Analysis:
    """Outlets, dates and unknown sources named in `question`, grouped into per-outlet sub-searches."""
    result = _Analysis()
    mentions = matcher.find(question)
    result.dates = find_dates(question, reference)
    result.since, result.until = _hull(result.dates)
    for m in mentions:
        for o in m.outlets:
            if o not in result.outlets:
                result.outlets.append(o)
    # Each date belongs to the nearest outlet mention in its clause ("The Verge on November 7").
    owner: dict[int, list[DateMention]] = {}
    for d in result.dates:
        best = None
        for i, m in enumerate(mentions):
            left, right = _clause(question, m.start, m.end)
            if left <= d.start and d.end <= right:
                gap = d.start - m.end if d.start >= m.end else m.start - d.end
                if best is None or gap < best[0]:
                    best = (gap, i)
        if best is not None:
            owner.setdefault(best[1], []).append(d)
    seen: set[tuple] = set()
    for i, m in enumerate(mentions):
        left, right = _clause(question, m.start, m.end)
        since, until = _hull(owner.get(i, []))
        text = question[left:right].strip(" ,")
        key = (m.outlets, since, until)
        if key in seen:
            continue
        seen.add(key)
        result.subqueries.append(SubQuery(text, m.outlets, since, until))
    # Dates named apart from any outlet ("published after October 2023"): search that period too.
    if (result.since or result.until) and not any(sq.since or sq.until for sq in result.subqueries):
        result.subqueries.append(SubQuery(question, (), result.since, result.until))
    if len(parts := question_parts(question, mentions)) > 1:
        result.subqueries.extend(SubQuery(text, outlets, kind="part") for text, outlets in parts)
    covered = [(m.start, m.end) for m in mentions]
    for s, e, name in source_names(question):
        inside = any(s < ce and cs < e for cs, ce in covered)
        if not inside and not matcher.known(name) and name not in result.unknown_sources:
            result.unknown_sources.append(name)
    for f in result.subqueries:
        if f.kind != "source":
            continue
        when = _describe_range(f.since, f.until)
        where = "the articles" + (" of " + " / ".join(f.outlets) if f.outlets else "")
        result.notes.append(f"also searched {where}" + (f" {when}" if when else "") + " on their own")
    n_parts = sum(f.kind == "part" for f in result.subqueries)
    if n_parts:
        result.notes.append(f"searched each of the question's {n_parts} parts on its own")
    return result


# Where a question's parts meet: a comma (optionally followed by a conjunction), a semicolon, or a
# conjunction ("provides a cash-out option and offers new customers…", "while the"). A side too short to stand
# alone ("both The Verge and TechCrunch") joins the part before it (below). Breaking at every "and" rather than
# only before a new predicate ("and is", "and the"): MultiHop-RAG dev AllFacts@10 0.448 → 0.460 (with the
# part-sentence re-rank weight, docs/evaluation.md).
_PART_BREAK = re.compile(r",\s+(?:and\s+|while\s+|but\s+|whereas\s+)?|\s+(?:and|while|whereas|but)\s+|;")
# Words that only attribute a part to a source ("as reported by", "according to"): a part made of little
# else is attached to the part before it.
_ATTRIBUTION = frozenset(
    "as reported by according to noted in per the article report reports reported piece story "
    "coverage covered further discussed mentioned highlighted featured both and did does was were is are has "
    "have had what which who whom how whether there between after before that this from with for about on "
    "published".split()
)
_DATE_WORD = re.compile(rf"^(?:{MONTH_WORD.pattern}|\d+(?:st|nd|rd|th)?)$", re.I)
#: A part needs at least this many content words of its own to be searched alone.
_MIN_PART_WORDS = 3


def question_parts(question: str, mentions: Sequence[OutletMention]) -> list[tuple[str, tuple[str, ...]]]:
    """The question's clauses, each with the outlets it names; attribution-only clauses join the previous."""
    spans: list[tuple[int, int]] = []
    last = 0
    for brk in _PART_BREAK.finditer(question):
        spans.append((last, brk.start()))
        last = brk.end()
    spans.append((last, len(question)))
    parts: list[tuple[int, int, set[str], int]] = []  # start, end, outlets named, content words
    for s, e in spans:
        if not question[s:e].strip():
            continue
        inside = [m for m in mentions if s <= m.start < e]
        outlets = {o for m in inside for o in m.outlets}
        rest = question[s:e]
        for m in inside:
            rest = rest.replace(m.text, " ")
        words = [
            w
            for w in re.findall(r"[\w'’-]+", rest.lower())
            if w not in _ATTRIBUTION and len(w) > 2 and not _DATE_WORD.match(w)
        ]
        if len(words) < _MIN_PART_WORDS and parts:
            ps, _, po, pn = parts[-1]
            parts[-1] = (ps, e, po | outlets, pn + len(words))
        else:
            parts.append((s, e, outlets, len(words)))
    # A part with too few words of its own (only who said it and when) is not searched alone.
    return [(question[s:e].strip(" ,;?"), tuple(sorted(outlets))) for s, e, outlets, n in parts if n >= _MIN_PART_WORDS]


def _describe_range(since: str | None, until: str | None) -> str:
    if since and until:
        return f"published {since}" if since == until else f"published {since} to {until}"
    if since:
        return f"published on or after {since}"
    if until:
        return f"published on or before {until}"
    return ""


# -- the reader ------------------------------------------------------------------------------------------------------


def read(
    question: str,
    history: Sequence[Turn] = (),
    outlets: Outlets = (),
    specificity: Callable[[str], float] | None = None,
    reference: date | None = None,
    analyse: bool = True,
    article: ArticleText = _no_articles,
) -> Reading:
    """Read `question` in its conversation (`history`, most recent last) against the corpus's `outlets`.

    `specificity(word)` (the corpus's BM25 IDF of the word, 0 when the corpus never uses it) picks the most
    telling topic words to carry; without it the most recent ones are taken. `reference` (the newest article's
    date) gives a date without a year its year. `analyse=False` skips the outlets/dates/parts analysis.
    `article(id)`: the text of an indexed article, for what the earlier answers' cited articles say.
    """
    matcher = _matcher(outlets)
    own = _own(question, matcher)
    resolved = _resolve(question, own, history, matcher, specificity, article)
    found = _analyse(resolved.text, matcher, reference) if analyse else _Analysis()
    said = described_as(history[-1].answer, resolved.names, matcher) if resolved.reasons and resolved.names else []
    asking = asked_by([*history, Turn(question)]) if resolved.reasons else question
    return Reading(
        question=question,
        text=resolved.text,
        asks=asked_kind(asking),
        names=tuple(own.names),
        words=tuple(own.words),
        outlets=tuple(found.outlets),
        dates=tuple(found.dates),
        since=found.since,
        until=found.until,
        subqueries=tuple(found.subqueries),
        unknown_sources=tuple(found.unknown_sources),
        notes=tuple(found.notes),
        follow_up=bool(resolved.reasons),
        reasons=resolved.reasons,
        carried_names=resolved.names,
        carried_words=resolved.words,
        exclude_outlets=resolved.exclude,
        only_outlets=resolved.only,
        answer_words=tuple(said),
    )
