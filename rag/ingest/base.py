"""What every reader shares: the `Problem` record, the result type, and metadata normalisation."""

from __future__ import annotations

from dataclasses import dataclass, field

from rag.ingest.dates import normalise_date
from rag.types import UNKNOWN_OUTLET, Article


@dataclass(frozen=True, slots=True)
class Problem:
    """A file (or record) that was skipped or read with a caveat, and why, in words a user can act on."""

    source: str
    message: str
    skipped: bool = True

    def __str__(self) -> str:
        return f"{self.source}: {self.message}"


@dataclass(slots=True)
class ReadResult:
    """Articles read plus problems met; a reader fills one per file, the corpus walk merges them."""

    articles: list[Article] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    def extend(self, other: ReadResult) -> None:
        self.articles.extend(other.articles)
        self.problems.extend(other.problems)

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if not p.skipped]

    @property
    def skipped(self) -> list[Problem]:
        return [p for p in self.problems if p.skipped]


def make_article(
    *,
    source: str,
    body: str,
    outlet: object = None,
    title: object = None,
    published: object = None,
    url: object = None,
    result: ReadResult,
) -> Article | None:
    """Build an Article from loose metadata; an empty body is a skip, a missing outlet a warning."""
    body = body.strip()
    if not body:
        result.problems.append(Problem(source, "no article text (empty body); nothing indexed"))
        return None
    outlet_s = str(outlet).strip() if outlet else ""
    if not outlet_s:
        outlet_s = UNKNOWN_OUTLET
        result.problems.append(
            Problem(source, f"no outlet found; indexed as '{UNKNOWN_OUTLET}' (add an 'outlet:' field)", False)
        )
    url_s = str(url).strip() if url else ""
    title_s = " ".join(str(title).split()) if title else ""
    if not title_s:
        first = body.split("\n", 1)[0].strip()
        title_s = first[:120] + ("…" if len(first) > 120 else "")
    art = Article(
        id=url_s or source,
        outlet=outlet_s,
        title=title_s,
        published=normalise_date(published),
        url=url_s,
        body=body,
        source=source,
    )
    result.articles.append(art)
    return art
