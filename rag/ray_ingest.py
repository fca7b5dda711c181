"""Embedding on a Ray cluster (`rag index --engine ray [--ray-address ADDR]`), with Ray Data and an actor pool.

    changed articles ──chunk (driver, cheap)──▶ rows (chunk id, embedded text)
        ──Ray Data, map_batches over an actor pool (one model load per actor)──▶ (chunk id, vector)
        ──▶ the backend's atomic change set (rag.indexer)

The indexer decides what to embed (the hash diff against the backend) and writes the result; only the
embedding moves to the cluster, so a Ray build holds exactly the chunks and ids a local build would, and
its vectors are the local ones: each actor runs the same `rag.embedding` model, and the default onnx-int8
backend embeds one text per run, so a vector never depends on how rows were batched or which node ran them.
Nothing is written until every vector is back: a failed job (a worker killed for good, the cluster gone)
leaves the previous index as it was, with a one-line error.

Without an address a local cluster is started for the run (`ray.cluster_utils.Cluster`, bound to 127.0.0.1:
Ray's own `ray.init()` would advertise and bind the machine's external address) and shut down after it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from rag.config import Settings
from rag.sentence_vectors import SentenceVectors
from rag.store import IndexProblem
from rag.types import Article, Chunk

HOST = "127.0.0.1"
#: Rows per Ray Data batch sent to an actor (a few seconds of work: progress stays lively, overhead small).
BATCH = 64


class RayFailed(IndexProblem):
    """The Ray job did not finish; the previous index is unchanged."""


class _EmbedActor:
    """One model per actor, loaded once; each call embeds one batch of rows."""

    def __init__(self, model: str, batch_size: int, backend: str, cache_dir: str) -> None:
        from pathlib import Path

        from rag.embedding import get_embedder

        # One thread: the actor holds one CPU (`num_cpus=1`), and its neighbours the others.
        self.embedder = get_embedder(model, batch_size, backend, Path(cache_dir), threads=1)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        spans = [[_span(p) for p in str(s).split(",") if p] for s in batch["spans"]]
        vectors, rows = self.embedder.encode_spans([str(t) for t in batch["text"]], spans)
        # A chunk's sentence vectors travel as the bytes of one float16 array (rows vary in number).
        sentences = np.asarray([r.astype(np.float16).tobytes() for r in rows], dtype=object)
        return {"id": np.asarray(batch["id"], dtype=np.int64), "vector": vectors, "sentences": sentences}


def _span(text: str) -> tuple[int, int]:
    start, end = text.split(":")
    return int(start), int(end)


def loopback_only() -> None:
    """Make Ray use 127.0.0.1 for this process and the ones it starts (before `ray` is first imported).

    Ray takes the node address from its "cluster mode" switch: with RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 it uses
    the loopback address (as on a laptop) instead of the machine's external one, for the driver, the nodes it
    starts and their workers; every server then listens on 127.0.0.1 (tests/cluster/test_ray.py checks)."""
    if "ray" in sys.modules and os.environ.get("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER") != "0":
        raise RayFailed(
            "Ray was imported before the local cluster was configured; set RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0"
        )
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")


@contextlib.contextmanager
def local_cluster(num_cpus: int | None = None, nodes: int = 1) -> Iterator[Any]:
    """A Ray cluster of `nodes` local nodes on 127.0.0.1 only, shut down (its processes, by PID) on exit."""
    loopback_only()
    from ray.cluster_utils import Cluster

    cpus = num_cpus or os.cpu_count() or 1
    per = max(1, cpus // nodes)
    node_args: dict[str, Any] = {"node_ip_address": HOST, "num_cpus": per, "include_dashboard": False,
                 "object_store_memory": 256 * 2**20}  # fmt: skip
    cluster = Cluster(initialize_head=True, head_node_args=node_args)
    try:
        for _ in range(nodes - 1):
            cluster.add_node(**node_args)
        cluster.wait_for_nodes()
        yield cluster
    finally:
        cluster.shutdown()


def _actors(ray: Any) -> int:
    cpus = int(ray.cluster_resources().get("CPU", 1))
    return max(1, cpus)


def run_embedding(
    settings: Settings,
    ids: list[int],
    texts: list[str],
    spans: list[list[tuple[int, int]]],
    progress: Callable[[int], None] | None,
    address: str,
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Vectors of `texts` (rows in the order of `ids`) and of their sentence `spans` (`Embedder.encode_spans`),
    embedded by an actor pool on the cluster at `address`."""
    import ray

    if not ray.is_initialized():
        ray.init(address=address, log_to_driver=False, logging_level=logging.ERROR, configure_logging=False)
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False
    n_actors = _actors(ray)
    # Blocks straight from the driver (no read tasks: the actors hold every CPU the cluster has).
    blocks = max(1, min(len(ids) // BATCH + 1, 4 * n_actors))
    rows = [
        {"id": i, "text": t, "spans": ",".join(f"{a}:{b}" for a, b in sp)}
        for i, t, sp in zip(ids, texts, spans, strict=True)
    ]
    items = ray.data.from_items(rows, override_num_blocks=blocks)
    ds = items.map_batches(
        _EmbedActor,
        fn_constructor_kwargs={
            "model": settings.model,
            "batch_size": settings.embed_batch_size,
            "backend": settings.embed_backend,
            "cache_dir": str(settings.cache_dir),
        },
        batch_size=BATCH,
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=n_actors),
        num_cpus=1,
        max_restarts=2,  # an actor whose process dies is restarted and its batch retried
        max_task_retries=2,
        enable_task_events=False,
    )
    pos = {cid: i for i, cid in enumerate(ids)}
    out: np.ndarray | None = None
    sentence_rows: list[np.ndarray] = [np.zeros((0, 0), dtype=np.float16)] * len(ids)
    done = 0
    for batch in ds.iter_batches(batch_size=BATCH, batch_format="numpy"):
        vecs = np.asarray(batch["vector"], dtype=np.float32)
        if out is None:
            out = np.empty((len(ids), vecs.shape[1]), dtype=np.float32)
        for cid, v, raw in zip(batch["id"].tolist(), vecs, batch["sentences"], strict=True):
            out[pos[int(cid)]] = v
            sentence_rows[pos[int(cid)]] = np.frombuffer(raw, dtype=np.float16).reshape(-1, vecs.shape[1])
        done += len(vecs)
        if progress:
            progress(done)
    if out is None or done != len(ids):
        raise RayFailed(f"the Ray job returned {done} of {len(ids)} vectors; the previous index is unchanged")
    return out, sentence_rows


def embed_articles(
    settings: Settings,
    articles: list[Article],
    next_id: int,
    progress: Callable[[str, int, int], None] | None,
    ray_address: str | None,
) -> tuple[list[Chunk], np.ndarray | None, int, SentenceVectors | None]:
    """`rag.indexer.embed_articles` on Ray: (chunks, vectors, dimension, sentence vectors)."""
    from rag.indexer import chunk_articles, sentence_spans_in, sentence_vectors

    chunks, texts = chunk_articles(settings, articles, next_id)
    if not texts:
        return chunks, None, 0, None
    spans = [sentence_spans_in(c, t) for c, t in zip(chunks, texts, strict=True)]
    if not ray_address:
        loopback_only()
    try:
        import ray
    except ImportError:
        raise RayFailed("--engine ray needs the cluster extra: pip install -e '.[cluster]'") from None
    report = (lambda n: progress("embed", n, len(texts))) if progress else None
    t0 = time.perf_counter()
    try:
        if ray_address:
            vectors, rows = run_embedding(settings, [c.id for c in chunks], texts, spans, report, ray_address)
        else:
            with local_cluster() as cluster:
                print(f"rag: started a local Ray cluster at {cluster.address}", file=sys.stderr)
                try:
                    ids = [c.id for c in chunks]
                    vectors, rows = run_embedding(settings, ids, texts, spans, report, cluster.address)
                finally:
                    ray.shutdown()
    except RayFailed:
        raise
    except ConnectionError as exc:
        raise RayFailed(
            f"cannot reach the Ray cluster at {ray_address} ({exc}); check --ray-address and that the cluster is up"
        ) from None
    except Exception as exc:  # noqa: BLE001 - any Ray error: the job failed, nothing was written
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RayFailed(
            f"the Ray embedding job failed ({type(exc).__name__}: {first[:300]}); the previous index is "
            "unchanged, run `rag index --engine ray` again"
        ) from None
    print(f"rag: embedded {len(texts)} chunks on Ray in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    dimension = int(vectors.shape[1])
    return chunks, vectors, dimension, sentence_vectors(chunks, rows, dimension)
