"""Ray ingestion on a real two-node local cluster: the same index as a local build, only changed articles
re-embedded, a worker killed mid-batch ends cleanly, and nothing listens beyond 127.0.0.1."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import threading
import time
from pathlib import Path

import numpy as np
import psutil
import pytest

from rag.config import Settings
from tests.reliability.helpers import MULTIHOP

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


def _vectors(index) -> dict[int, np.ndarray]:  # noqa: ANN001
    from rag import vector_index

    ids, vecs = vector_index.vectors(index.faiss_index)
    return {int(i): np.array(v) for i, v in zip(ids, vecs, strict=True)}


def _ray_settings(seed_index: Settings, tmp_path: Path) -> Settings:
    corpus = tmp_path / "corpus"
    shutil.copytree(seed_index.corpus_dir, corpus)
    return seed_index.model_copy(update={"index_dir": tmp_path / "index", "corpus_dir": corpus})


def test_a_ray_build_is_the_local_build(ray_cluster, seed_index: Settings, tmp_path: Path) -> None:
    from rag.indexer import update_index
    from rag.store import load_index

    settings = _ray_settings(seed_index, tmp_path)
    summary = update_index(settings, engine="ray", ray_address=ray_cluster.address)
    local, ray_built = load_index(seed_index.index_dir), load_index(settings.index_dir)
    assert summary.embedded_chunks == len(local.chunks) == len(ray_built.chunks)
    assert ray_built.chunks == local.chunks and ray_built.hashes == local.hashes
    a, b = _vectors(local), _vectors(ray_built)
    assert a.keys() == b.keys()
    assert all(np.array_equal(a[i], b[i]) for i in a)  # bit for bit: one text per model run on both sides
    assert local.sentences is not None and ray_built.sentences is not None  # and the sentences' vectors too
    np.testing.assert_array_equal(ray_built.sentences.keys, local.sentences.keys)
    np.testing.assert_array_equal(ray_built.sentences.vectors, local.sentences.vectors)


def test_changing_one_article_re_embeds_only_it(ray_cluster, seed_index: Settings, tmp_path: Path) -> None:
    from rag.indexer import update_index
    from rag.store import load_index

    settings = _ray_settings(seed_index, tmp_path)
    shutil.copytree(seed_index.index_dir, settings.index_dir)
    path = sorted(Path(settings.corpus_dir).glob("*.md"))[0]
    path.write_text(path.read_text(encoding="utf-8") + "\nOne more closing sentence was added.\n", encoding="utf-8")
    summary = update_index(settings, engine="ray", ray_address=ray_cluster.address)
    assert (summary.added, summary.updated, summary.removed, summary.unchanged) == (0, 1, 0, 4)
    index = load_index(settings.index_dir)
    assert summary.embedded_chunks == len(index.chunk_ids_for(summary.updated_ids[0]))
    assert update_index(settings, engine="ray", ray_address=ray_cluster.address).embedded_chunks == 0


def _cluster_pids(cluster) -> set[int]:  # noqa: ANN001
    pids = set()
    for node in [cluster.head_node, *cluster.worker_nodes]:
        for infos in node.all_processes.values():
            for info in infos:
                pids.add(info.process.pid)
    out = set(pids)
    for pid in pids:
        with contextlib.suppress(psutil.NoSuchProcess):
            out |= {c.pid for c in psutil.Process(pid).children(recursive=True)}
    return out


def test_nothing_of_the_cluster_listens_beyond_loopback(ray_cluster) -> None:
    import ray

    ray.init(address=ray_cluster.address, ignore_reinit_error=True, log_to_driver=False)
    assert len([n for n in ray.nodes() if n["Alive"]]) == 2
    assert {n["NodeManagerAddress"] for n in ray.nodes()} == {"127.0.0.1"}
    pids = _cluster_pids(ray_cluster) | {os.getpid()}
    listening = [c for c in psutil.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN and c.pid in pids]
    assert listening, "found none of the cluster's servers"
    assert {c.laddr.ip for c in listening} <= {"127.0.0.1", "::ffff:127.0.0.1", "::1"}, listening


def test_a_worker_killed_mid_batch_ends_finished_or_cleanly_failed(ray_cluster, tmp_path: Path) -> None:
    from rag.indexer import update_index
    from rag.ray_ingest import RayFailed
    from rag.store import load_index, read_manifest

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    lines = MULTIHOP.read_text(encoding="utf-8").splitlines()
    (corpus / "a.jsonl").write_text("\n".join(lines[:5]) + "\n", encoding="utf-8")
    settings = Settings(index_dir=tmp_path / "index", corpus_dir=corpus)
    update_index(settings)  # the index a failed update must leave as it was
    before = read_manifest(settings.index_dir)["generation"]
    (corpus / "b.jsonl").write_text("\n".join(lines[5:45]) + "\n", encoding="utf-8")

    killed: list[int] = []

    def killer() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not killed:
            for pid in _cluster_pids(ray_cluster):
                try:
                    cmd = " ".join(psutil.Process(pid).cmdline())
                except psutil.NoSuchProcess:
                    continue
                if "MapWorker" in cmd and "_EmbedActor" in cmd:
                    time.sleep(1.5)  # let it get into its batches
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:  # an actor of an earlier run, gone meanwhile: look again
                        continue
                    killed.append(pid)
                    return
            time.sleep(0.1)

    t = threading.Thread(target=killer)
    t.start()
    try:
        summary = update_index(settings, engine="ray", ray_address=ray_cluster.address)
    except RayFailed as exc:
        assert "previous index is unchanged" in str(exc)
        assert read_manifest(settings.index_dir)["generation"] == before
        load_index(settings.index_dir)  # still whole
        outcome = "failed"
    else:
        index = load_index(settings.index_dir)
        assert summary.added == 40 and len(index.articles) == 45
        assert len(index.chunks) == summary.chunks
        outcome = "finished"
    t.join()
    assert killed, "no embedding actor was seen to kill"
    print(json.dumps({"outcome": outcome}))
