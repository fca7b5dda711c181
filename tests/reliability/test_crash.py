"""SIGKILL the real `rag index` at random moments while it updates (and builds) a MultiHop-RAG index.

Every trial changes the corpus (articles added, one changed, one removed), starts `rag index` in a child
process and kills it with SIGKILL at a random moment. Half the kill times are drawn uniformly over the whole
measured duration of an update (start-up, reading, embedding, writing); the other half uniformly over the
window in which it writes and commits the new generation (from the moment its temporary generation folder
appears until the manifest switch, measured on an uninterrupted run), since that is where a crash could
leave a half-written index. After each kill:

- the index on disk loads with every checksum verified and holds exactly the corpus before the update, or
  exactly the corpus after it (when the kill came after the commit), never a mixture;
- it answers: a passage's own text retrieves that passage, stored vectors match fresh embeddings of their
  chunks, and an answer's quotes are the exact text of the cited spans;
- the next `rag index` (the same `update_index` the CLI calls, run in this process to save a model load)
  completes, and the index then equals what a clean build of the new corpus holds (articles, content hashes,
  chunk spans and counts, the manifest's chunk count), with no temporary folders left.

The base index holds the first `RELIABILITY_MH_ARTICLES` articles of the corpus (default 30, so the test fits
the suite's time budget on two cores; 609 uses the whole corpus, copying the prebuilt index in
/work/cache/mh-index when it matches the settings). `RELIABILITY_SEED` fixes the random kill times.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import filelock
import pytest

from rag.config import Settings
from rag.embedding import get_embedder
from rag.indexer import build_fields, update_index
from rag.pipeline import Pipeline
from rag.store import MANIFEST, IndexNotFound, IndexProblem, check_compatible, load_index, read_manifest

from .helpers import MULTIHOP, ROOT, Expected, expected_index, index_matches, rag_command, rag_env, vectors_align

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not MULTIHOP.is_file(), reason=f"MultiHop-RAG corpus not found at {MULTIHOP}"),
]

MH_ARTICLES = int(os.environ.get("RELIABILITY_MH_ARTICLES", "30"))
SEED = int(os.environ.get("RELIABILITY_SEED", str(int(time.time()) % 100_000)))
UPDATE_KILLS = 20
BUILD_KILLS = 2
CACHE = ROOT.parent / "cache" / "mh-index"
POLL = 0.003  # seconds between looks at the index folder while the indexer runs


def _write_corpus(corpus: Path, lines: list[str]) -> None:
    corpus.mkdir(parents=True, exist_ok=True)
    tmp = corpus / ".corpus.jsonl.tmp"  # hidden: the corpus walk skips it
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.replace(tmp, corpus / "corpus.jsonl")


def _usable_cache(settings: Settings, lines: list[str]) -> bool:
    """The prebuilt whole-corpus index matches these settings and this corpus (never modified, only copied)."""
    try:
        manifest = read_manifest(CACHE)
        corpus = (ROOT.parent / "cache" / "mh-corpus" / "corpus.jsonl").read_text(encoding="utf-8")
        check_compatible(manifest, settings.model, build_fields(settings, manifest["dimension"]))
    except (IndexProblem, OSError, ValueError):
        return False
    return corpus.splitlines() == lines


@pytest.fixture(scope="module")
def mh_lines() -> list[str]:
    return [line for line in MULTIHOP.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="module")
def mh_base(tmp_path_factory: pytest.TempPathFactory, mh_lines: list[str]) -> Settings:
    """A real index of the first MH_ARTICLES articles, built (or copied) once for this module."""
    base = tmp_path_factory.mktemp("mh-base")
    settings = Settings(index_dir=base / "index", corpus_dir=base / "corpus")
    _write_corpus(base / "corpus", mh_lines[:MH_ARTICLES])
    if len(mh_lines) <= MH_ARTICLES and _usable_cache(settings, mh_lines):
        shutil.copytree(CACHE, base / "index", ignore=shutil.ignore_patterns(".lock"))
    else:
        update_index(settings)
    return settings


@dataclass
class Run:
    """What was seen of one `rag index` child: when its temporary generation appeared, when it committed."""

    returncode: int
    killed: bool
    duration: float
    write_at: float | None  # seconds from start to the first `.tmp-gen-*` folder
    commit_at: float | None  # seconds from start to the manifest naming a new generation
    phase: str  # where the kill landed: "start-up/reading/embedding", "writing", "after commit", or "finished"


def _generation(index: Path) -> str | None:
    try:
        return json.loads((index / MANIFEST).read_text(encoding="utf-8"))["generation"]
    except (OSError, ValueError, KeyError):
        return None


def _run_indexer(settings: Settings, log: Path, kill: tuple[str, float] | None) -> Run:
    """Run `rag index` and, if `kill` is ("at", t) or ("write", t), SIGKILL it t s after start / after writing."""
    index = Path(settings.index_dir)
    before = _generation(index)
    env = rag_env(RAG_INDEX_DIR=index, RAG_CORPUS_DIR=settings.corpus_dir)
    with log.open("w") as err:
        proc = subprocess.Popen(rag_command("index", "--json"), env=env, stdout=subprocess.DEVNULL, stderr=err)
        t0 = time.perf_counter()
        write_at = commit_at = None
        killed = False
        while proc.poll() is None:
            now = time.perf_counter() - t0
            if write_at is None and any(e.name.startswith(".tmp-gen-") for e in os.scandir(index)):
                write_at = now
            if commit_at is None and write_at is not None and _generation(index) != before:
                commit_at = now
            if kill is not None:
                mode, delay = kill
                due = delay if mode == "at" else (write_at + delay if write_at is not None else None)
                if due is not None and now >= due:
                    proc.send_signal(signal.SIGKILL)
                    proc.wait()
                    killed = proc.returncode == -signal.SIGKILL
                    break
            time.sleep(POLL)
        duration = time.perf_counter() - t0
    if commit_at is None and _generation(index) != before:
        commit_at = duration
    if not killed:
        phase = "finished"
    elif _generation(index) != before:
        phase = "after commit"
    elif write_at is not None:
        phase = "writing"
    else:
        phase = "start-up/reading/embedding"
    return Run(proc.returncode, killed, duration, write_at, commit_at, phase)


def _check_answers(settings: Settings, index, sample: list[int]) -> None:
    """The loaded index answers: exact passages come back, vectors belong to their chunks, quotes are exact."""
    pipe = Pipeline(settings)
    assert pipe.index.manifest["generation"] == index.manifest["generation"]
    cid = sample[0]
    # The middle of a chunk: the overlap with its neighbours lies at its ends (at most `chunk_overlap` long).
    text = index.chunks[cid].text
    middle = text[settings.chunk_overlap : settings.chunk_overlap + 300] if len(text) > 600 else text
    hits = pipe.retrieve(pipe.search_query(middle), k=3)
    # The chunk itself, or another holding the same words (news sites repeat boilerplate across articles).
    assert any(h.chunk.id == cid or middle in h.chunk.text for h in hits), f"chunk {cid} not found by its own text"
    assert vectors_align(index, get_embedder(settings.model), sample) > 0.98
    title = index.articles[index.chunks[cid].article_id].title
    answer = pipe.ask(f"What happened in: {title}?")
    for c in answer.citations:
        assert index.articles[c.article_id].body[c.start : c.end] == c.quote


def _sample(index, article_ids: list[str], rng: random.Random) -> list[int]:
    """Chunk ids of the given articles (those present), topped up with random others: 4 in all."""
    ids = [cid for cid, c in index.chunks.items() if c.article_id in set(article_ids)]
    rng.shuffle(ids)
    others = rng.sample(sorted(index.chunks), k=min(4, len(index.chunks)))
    return list(dict.fromkeys(ids[:3] + others))[:4]


def _assert_complete(settings: Settings, expected: Expected, touched: list[str], rng: random.Random) -> None:
    """The committed index equals a clean build of the corpus and nothing of a dead writer is left over."""
    index = load_index(settings.index_dir, settings.model, verify=True)
    assert index_matches(index, expected)
    assert (index.manifest["chunks"], len(index.articles)) == (expected.chunks, expected.articles)
    leftovers = [e.name for e in Path(settings.index_dir).iterdir() if e.name.startswith(".tmp")]
    assert not leftovers, leftovers
    assert len(list(Path(settings.index_dir).glob("gen-*"))) <= 2
    # The vectors of what this update embedded belong to their chunks (answering was checked after the kill).
    assert vectors_align(index, get_embedder(settings.model), _sample(index, touched, rng)) > 0.98


def _mutate(lines: list[str], pool: list[str], trial: int, rng: random.Random) -> tuple[list[str], list[str]]:
    """Remove one article, change one, add one or two from the pool. Returns (new lines, touched ids)."""
    new = list(lines)
    removed = new.pop(rng.randrange(len(new)))
    i = rng.randrange(len(new))
    changed = json.loads(new[i])
    changed["body"] += f"\n\nCorrection ({trial}): an earlier version of this article gave the wrong date."
    new[i] = json.dumps(changed, ensure_ascii=False)
    added = [pool.pop(0) for _ in range(rng.choice([1, 2]))]
    new.extend(added)
    pool.append(removed)
    touched = [changed["url"]] + [json.loads(a)["url"] for a in added]
    return new, touched


def test_sigkill_during_updates_never_loses_the_index(mh_base: Settings, mh_lines, tmp_path: Path) -> None:
    rng = random.Random(SEED)
    print(f"\nRELIABILITY_SEED={SEED} RELIABILITY_MH_ARTICLES={MH_ARTICLES}")
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    shutil.copytree(mh_base.corpus_dir, corpus)
    shutil.copytree(mh_base.index_dir, index)
    settings = mh_base.model_copy(update={"corpus_dir": corpus, "index_dir": index})
    lines = mh_lines[:MH_ARTICLES]
    pool = list(mh_lines[MH_ARTICLES:]) or [lines.pop() for _ in range(6)]
    if len(lines) < len(mh_lines[:MH_ARTICLES]):  # whole corpus: hold a few back to add later
        _write_corpus(corpus, lines)
        update_index(settings)

    # An uninterrupted update measures how long one takes and where its write window lies (tried again if
    # the write window was too short to be seen between two looks at the folder).
    for attempt in range(3):
        lines, touched = _mutate(lines, pool, -attempt, rng)
        _write_corpus(corpus, lines)
        calib = _run_indexer(settings, tmp_path / "calibration.log", kill=None)
        assert calib.returncode == 0, (tmp_path / "calibration.log").read_text()
        _assert_complete(settings, expected_index(settings), touched, rng)
        if calib.write_at is not None:
            break
    assert calib.write_at is not None and calib.commit_at is not None
    window = calib.commit_at - calib.write_at
    print(f"update: {calib.duration:.2f} s, write window {calib.write_at:.2f}-{calib.commit_at:.2f} s")

    phases: list[str] = []
    trial = 0
    while sum(p != "finished" for p in phases) < UPDATE_KILLS:
        trial += 1
        assert trial <= 2 * UPDATE_KILLS, f"only {phases.count('finished')} of {trial} runs could be killed"
        before = expected_index(settings)
        lines, touched = _mutate(lines, pool, trial, rng)
        _write_corpus(corpus, lines)
        after = expected_index(settings)
        # Even trials: anywhere in the run; odd trials: inside the write-and-commit window (+10% to reach past it).
        kill = ("at", rng.uniform(0, calib.duration)) if trial % 2 == 0 else ("write", rng.uniform(0, 1.1 * window))
        run = _run_indexer(settings, tmp_path / f"trial-{trial}.log", kill)
        assert run.killed or run.returncode == 0, (tmp_path / f"trial-{trial}.log").read_text()
        phases.append(run.phase)
        print(f"trial {trial}: kill {kill[0]} +{kill[1]:.3f} s -> {run.phase}")

        # The writer is gone: its lock is free, and the index is the old one or the new one, whole.
        filelock.FileLock(str(index / ".lock")).acquire(timeout=0).lock.release()
        state = load_index(index, settings.model, verify=True)
        old, new = index_matches(state, before), index_matches(state, after)
        assert old != new, f"trial {trial} ({run.phase}): the index is neither the old nor the new corpus"
        assert new == (run.phase in ("after commit", "finished"))
        _check_answers(settings, state, _sample(state, touched, rng))

        # The next `rag index` finishes the job.
        summary = update_index(settings)
        assert (summary.articles, summary.chunks) == (after.articles, after.chunks)
        _assert_complete(settings, after, touched, rng)

    killed = [p for p in phases if p != "finished"]
    print("kills by phase:", {p: killed.count(p) for p in sorted(set(killed))})
    assert len(killed) >= UPDATE_KILLS
    assert killed.count("writing") >= 3, "too few kills landed while the new generation was being written"


def test_sigkill_during_a_first_build_leaves_no_index_or_a_whole_one(mh_lines, tmp_path: Path) -> None:
    rng = random.Random(SEED + 1)
    corpus = tmp_path / "corpus"
    _write_corpus(corpus, mh_lines[MH_ARTICLES : MH_ARTICLES + 6] or mh_lines[:6])
    calib_settings = Settings(index_dir=tmp_path / "calibration", corpus_dir=corpus)
    for _attempt in range(3):
        shutil.rmtree(calib_settings.index_dir, ignore_errors=True)
        calib_settings.index_dir.mkdir()
        calib = _run_indexer(calib_settings, tmp_path / "calibration.log", kill=None)
        assert calib.returncode == 0, (tmp_path / "calibration.log").read_text()
        if calib.write_at is not None:
            break
    assert calib.write_at is not None and calib.commit_at is not None
    expected = expected_index(calib_settings)
    kills = 0
    for trial in range(1, 3 * BUILD_KILLS + 1):
        if kills == BUILD_KILLS:
            break
        settings = calib_settings.model_copy(update={"index_dir": tmp_path / f"index-{trial}"})
        settings.index_dir.mkdir()
        # Alternately anywhere in the second half of the run, and inside the write-and-commit window.
        if trial % 2:
            kill = ("at", rng.uniform(0.5, 1.0) * calib.duration)
        else:
            kill = ("write", rng.uniform(0, 1.1 * (calib.commit_at - calib.write_at)))
        run = _run_indexer(settings, tmp_path / f"build-{trial}.log", kill)
        assert run.killed or run.returncode == 0, (tmp_path / f"build-{trial}.log").read_text()
        kills += run.killed
        print(f"build trial {trial}: kill {kill[0]} +{kill[1]:.3f} s -> {run.phase}")
        try:
            state = load_index(settings.index_dir, settings.model, verify=True)
        except IndexNotFound:
            assert run.phase != "finished"
        else:
            assert index_matches(state, expected)
        summary = update_index(settings)
        assert (summary.articles, summary.chunks) == (expected.articles, expected.chunks)
        _assert_complete(settings, expected, list(expected.hashes)[:2], rng)
    assert kills == BUILD_KILLS
