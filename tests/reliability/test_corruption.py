"""A damaged index is refused with a message that says to run `rag index --rebuild`: never a crash, never an answer.

Each case damages a private copy of the real seed index one way, then:
- `load_index` raises an `IndexProblem` naming `rag index --rebuild`, with checksum verification on and off;
- the real CLI (`rag ask --json`, and `rag index` for an update) exits 1 with that message on stderr, prints no
  answer and no traceback (a native crash would show as a negative return code).
Damage that only a checksum can see (a flipped bit inside the vector data) is detected with verification on,
the default; docs/reliability.md says what turning it off gives up.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import struct
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import faiss
import numpy as np
import pytest

from rag.boilerplate import REPEATED_FILE
from rag.chunking import chunk_article
from rag.config import Settings
from rag.pipeline import Pipeline
from rag.store import (
    FAISS_FILE,
    MANIFEST,
    META_FILE,
    Changes,
    IndexCorrupt,
    IndexMismatch,
    IndexProblem,
    load_index,
    sha256_file,
    write_generation,
)
from rag.types import Article, Chunk

from .helpers import REBUILD_HINT, rag_env, run_rag

QUESTION = "What did Marco Rubio say about blowing up the boat?"


def _gen(index: Path) -> Path:
    return index / json.loads((index / MANIFEST).read_text())["generation"]


def _edit_manifest(index: Path, **fields: object) -> None:
    manifest = json.loads((index / MANIFEST).read_text())
    manifest.update(fields)
    (index / MANIFEST).write_text(json.dumps(manifest))


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x40
    path.write_bytes(bytes(data))


def _truncate(path: Path, size: int) -> None:
    with path.open("r+b") as f:
        f.truncate(size)


def _delete_chunk_row(index: Path) -> None:
    conn = sqlite3.connect(_gen(index) / META_FILE)
    with conn:
        conn.execute("DELETE FROM chunks WHERE id = (SELECT MAX(id) FROM chunks)")
    conn.close()


def _faiss_size(index: Path) -> int:
    return (_gen(index) / FAISS_FILE).stat().st_size


#: name → (damage, detected with checksums off too). Offsets: the FAISS header is 90 bytes (see store.py),
#: ntotal of the outer index sits at byte 8, the vectors start at byte 82, the ids fill the last 8 * n bytes.
CASES: dict[str, tuple[Callable[[Path], None], bool]] = {
    "faiss truncated to half": (lambda ix: _truncate(_gen(ix) / FAISS_FILE, _faiss_size(ix) // 2), True),
    "faiss truncated inside its header": (lambda ix: _truncate(_gen(ix) / FAISS_FILE, 50), True),
    "faiss emptied": (lambda ix: _truncate(_gen(ix) / FAISS_FILE, 0), True),
    "faiss byte flipped in the header": (lambda ix: _flip(_gen(ix) / FAISS_FILE, 8), True),
    "faiss byte flipped in the ids": (lambda ix: _flip(_gen(ix) / FAISS_FILE, _faiss_size(ix) - 20), True),
    "faiss byte flipped in the vectors": (lambda ix: _flip(_gen(ix) / FAISS_FILE, 1000), False),
    "faiss file missing": (lambda ix: (_gen(ix) / FAISS_FILE).unlink(), True),
    "metadata replaced by garbage": (lambda ix: (_gen(ix) / META_FILE).write_bytes(os.urandom(8192)), True),
    "metadata truncated": (lambda ix: _truncate(_gen(ix) / META_FILE, 4096), True),
    "metadata missing a chunk row": (_delete_chunk_row, True),
    "generation folder missing": (lambda ix: shutil.rmtree(_gen(ix)), True),
    "manifest with bad JSON": (lambda ix: (ix / MANIFEST).write_text('{"format": 1, "model": '), True),
    "manifest empty": (lambda ix: (ix / MANIFEST).write_text(""), True),
    "manifest from another model": (
        lambda ix: _edit_manifest(ix, model="sentence-transformers/all-mpnet-base-v2"),
        True,
    ),
    "manifest with another dimension": (lambda ix: _edit_manifest(ix, dimension=768), True),
    "manifest of a newer format": (lambda ix: _edit_manifest(ix, format=99), True),
    "manifest pointing outside the index": (lambda ix: _edit_manifest(ix, generation="../../etc"), True),
    "manifest missing its checksums": (lambda ix: _edit_manifest(ix, files=None), True),
    "furniture keys of another type": (
        lambda ix: np.save(_gen(ix) / REPEATED_FILE, np.zeros(4, dtype=np.float32), allow_pickle=False),
        True,
    ),
    "furniture keys replaced by garbage": (lambda ix: (_gen(ix) / REPEATED_FILE).write_bytes(os.urandom(512)), True),
    "furniture keys missing": (lambda ix: (_gen(ix) / REPEATED_FILE).unlink(), True),
}


#: One case per kind of damage also goes through the CLI with checksums off, and through `rag index`
#: (each CLI run costs a second of start-up; the in-process test covers every case both ways).
CLI_DEEP = {
    "faiss truncated to half",
    "faiss byte flipped in the header",
    "metadata replaced by garbage",
    "generation folder missing",
    "manifest from another model",
    "manifest with bad JSON",
}


@pytest.fixture
def damaged(tmp_index: Settings, request: pytest.FixtureRequest) -> Settings:
    damage, _ = CASES[request.param]
    damage(Path(tmp_index.index_dir))
    return tmp_index


def _check_refusal(message: str) -> None:
    assert REBUILD_HINT in message, message


@pytest.mark.slow
@pytest.mark.parametrize("damaged", list(CASES), indirect=True)
def test_damaged_index_is_refused_in_process(damaged: Settings, request: pytest.FixtureRequest) -> None:
    name = request.node.callspec.params["damaged"]
    with pytest.raises(IndexProblem) as info:
        load_index(damaged.index_dir, damaged.model, verify=True)
    _check_refusal(str(info.value))
    if name == "manifest from another model":
        assert isinstance(info.value, IndexMismatch) and "all-mpnet-base-v2" in str(info.value)
    if CASES[name][1]:
        with pytest.raises(IndexProblem) as info:
            load_index(damaged.index_dir, damaged.model, verify=False)
        _check_refusal(str(info.value))


@pytest.mark.slow
@pytest.mark.parametrize("damaged", list(CASES), indirect=True)
def test_damaged_index_makes_the_cli_exit_1_with_the_fix(damaged: Settings, request: pytest.FixtureRequest) -> None:
    name = request.node.callspec.params["damaged"]
    modes = ["true", "false"] if name in CLI_DEEP else ["true"]
    for verify in modes:
        env = rag_env(RAG_INDEX_DIR=damaged.index_dir, RAG_CORPUS_DIR=damaged.corpus_dir, RAG_VERIFY_CHECKSUMS=verify)
        ask = run_rag("ask", "--json", QUESTION, env=env)
        assert ask.returncode == 1, (verify, ask.returncode, ask.stderr)
        assert ask.stdout == ""  # no answer at all, so never a wrong one
        assert "Traceback" not in ask.stderr and ask.stderr.startswith("rag: error: "), ask.stderr
        _check_refusal(ask.stderr)
    if name not in CLI_DEEP:
        return
    # An update must refuse too, rather than build on a damaged generation (`--rebuild` is the way out).
    index = run_rag("index", "--json", env=rag_env(RAG_INDEX_DIR=damaged.index_dir, RAG_CORPUS_DIR=damaged.corpus_dir))
    assert index.returncode == 1 and index.stdout == "", index.stderr
    assert "Traceback" not in index.stderr
    _check_refusal(index.stderr)


@pytest.mark.slow
def test_rebuild_recovers_a_damaged_index_and_keeps_an_unreadable_one_until_then(tmp_index: Settings) -> None:
    index = Path(tmp_index.index_dir)
    old_gen = _gen(index)
    (index / MANIFEST).write_text("{ garbage")
    env = rag_env(RAG_INDEX_DIR=index, RAG_CORPUS_DIR=tmp_index.corpus_dir)
    refused = run_rag("index", "--json", env=env)
    assert refused.returncode == 1 and REBUILD_HINT in refused.stderr
    assert old_gen.is_dir()  # a failed update deletes nothing it cannot read
    rebuilt = run_rag("index", "--rebuild", "--json", env=env)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert json.loads(rebuilt.stdout)["articles"] == 5
    assert not old_gen.exists()
    answer = Pipeline(tmp_index).ask(QUESTION)
    assert not answer.refused and answer.citations


def _small_index(path: Path, dimension: int = 8) -> None:
    """A real index written by `write_generation`, with random unit vectors (no model needed for store checks)."""
    body = " ".join(f"Sentence {i} of the council report describes the ferry timetable." for i in range(60))
    arts = [
        Article(f"https://example.com/{n}", "Example", f"Story {n}", "2024-01-02", f"https://example.com/{n}", body)
        for n in range(3)
    ]
    chunks = [
        Chunk(c.article_id, c.start, c.end, c.text, id=i)
        for i, c in enumerate(c for a in arts for c in chunk_article(a))
    ]
    vectors = np.random.default_rng(0).normal(size=(len(chunks), dimension)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    fields = {"model": "test/model", "dimension": dimension, "chunk_size": 1000, "chunk_overlap": 200}
    write_generation(path, None, Changes(add_articles=arts, add_chunks=chunks, add_vectors=vectors), fields)


@pytest.mark.parametrize("verify", [True, False])
def test_huge_size_claim_is_refused_before_faiss_allocates(tmp_path: Path, monkeypatch, verify: bool) -> None:
    """A FAISS header asking for ~2 TB of vectors (manifest agreeing) is refused before FAISS reads the file."""
    index = tmp_path / "index"
    _small_index(index)
    faiss_path = _gen(index) / FAISS_FILE
    data = bytearray(faiss_path.read_bytes())
    data[82 - 8 : 82] = struct.pack("<Q", 1 << 39)  # the float count of the vector array
    faiss_path.write_bytes(bytes(data))
    _edit_manifest(index, files={FAISS_FILE: sha256_file(faiss_path), META_FILE: sha256_file(_gen(index) / META_FILE)})

    def must_not_parse(*args: object) -> None:
        raise AssertionError("FAISS was asked to parse a file whose header lies about its size")

    monkeypatch.setattr(faiss, "read_index", must_not_parse)
    with pytest.raises(IndexCorrupt, match="header does not match its size"):
        load_index(index, verify=verify)


def test_faiss_fuzz_never_crashes_the_process(tmp_path: Path) -> None:
    """Hundreds of truncations and bit flips of a FAISS file, loaded with checksums off in a child process.

    Each load must either be refused with an `IndexProblem` or (a flip inside the vector values, which only
    the checksum can see) load an index of the right shape. A segfault or abort kills the child: the test
    then fails on its return code instead of taking pytest down.
    """
    index = tmp_path / "index"
    _small_index(index)
    script = tmp_path / "fuzz.py"
    script.write_text(FUZZ)
    run = subprocess.run([sys.executable, str(script), str(index)], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, (run.returncode, run.stderr[-2000:])
    counts = json.loads(run.stdout)
    assert counts["other"] == 0, counts
    assert counts["refused"] >= 300, counts
    assert counts["loaded_vector_flip"] <= counts["vector_flips"], counts
    assert counts["loaded_unused_flip"] <= counts["unused_field_flips"], counts


FUZZ = """
import json, random, shutil, sys
from pathlib import Path
from rag.store import FAISS_FILE, IndexProblem, load_index

index = Path(sys.argv[1])
gen = index / json.loads((index / "manifest.json").read_text())["generation"]
path = gen / FAISS_FILE
original = path.read_bytes()
n = len(original)
vectors_end = n - 8 - 8 * json.loads((index / "manifest.json").read_text())["chunks"]
rng = random.Random(0)
keys = ["refused", "loaded_vector_flip", "vector_flips", "loaded_unused_flip", "unused_field_flips", "other"]
counts = dict.fromkeys(keys, 0)
cases = [("cut", k) for k in list(range(0, 120)) + [rng.randrange(n) for _ in range(80)]]
flips = list(range(0, 90)) + [rng.randrange(n) for _ in range(150)] + list(range(vectors_end, n))
cases += [("flip", k) for k in flips]
for kind, k in cases:
    data = bytearray(original)
    if kind == "cut":
        data = data[:k]
    else:
        data[k] ^= 1 << rng.randrange(8)
    path.write_bytes(bytes(data))
    in_vectors = kind == "flip" and 82 <= k < vectors_end
    # Two unused int64 fields in each index header (bytes 16-31 and 53-68) that FAISS skips on reading.
    unused = kind == "flip" and (16 <= k < 32 or 53 <= k < 69)
    counts["vector_flips"] += in_vectors
    counts["unused_field_flips"] += unused
    try:
        loaded = load_index(index, verify=False)
    except IndexProblem as exc:
        assert "rag index --rebuild" in str(exc)
        counts["refused"] += 1
        continue
    except Exception as exc:
        print(kind, k, repr(exc), file=sys.stderr)
        counts["other"] += 1
        continue
    if (in_vectors or unused) and loaded.faiss_index.ntotal == len(loaded.chunks):
        counts["loaded_vector_flip" if in_vectors else "loaded_unused_flip"] += 1
    else:
        print("loaded a damaged file", kind, k, file=sys.stderr)
        counts["other"] += 1
path.write_bytes(original)
print(json.dumps(counts))
"""
