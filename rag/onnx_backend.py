"""The embedding model as int8 ONNX: exported locally from the bundled torch model, cached, run by onnxruntime.

sentence-transformers' own ONNX backend needs `optimum-onnx`, which pins transformers below 4.58 and so cannot
be installed beside this project's transformers 5. The same recipe is done here with the two libraries it
wraps: `torch.onnx.export` of the transformer, then onnxruntime's dynamic int8 quantisation of its MatMul
weights. Nothing is downloaded: the export reads the model folder the torch backend loads.

    model folder ──torch.onnx.export──▶ fp32 graph ──quantize_dynamic──▶ model.int8.onnx  (once per cache key)
    texts ──tokenizers (tokenizer.json)──▶ ids ──onnxruntime──▶ token vectors ──mean pool, L2──▶ rows

At run time only `tokenizers` and `onnxruntime` are imported (no torch), which is most of this backend's
cold-start advantage. An export is checked against the torch model on a few probe texts before it is cached,
so a graph that traced wrongly is refused instead of silently embedding garbage. The cache holds a JSON
sidecar with the file's SHA-256; a file that does not match it is exported again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any, cast

import numpy as np

from rag.store import sha256_file

#: Bump when the export or quantisation recipe changes, so older cached files are not reused.
RECIPE = 1
ONNX_FILE = "model.int8.onnx"
META_FILE = "meta.json"
_OPSET = 17

#: Texts the export is checked on: short, long (truncated at the model's limit), leading/trailing spaces.
_PROBES = [
    "What did the central bank say about interest rates?",
    "  Shares of the chipmaker rose 4% on Tuesday after it raised its forecast.  ",
    "Storm " * 300,
    "x",
]
#: Cosine an fp32 export must reach against torch on every probe (float rounding only), and the int8 model.
#: On MultiHop-RAG chunks int8 per-channel MatMul weights give a mean cosine of 0.994, minimum 0.990, against
#: fp32; per-tensor weights only 0.946 / 0.912, which is why `per_channel=True` below.
_FP32_MIN_COSINE = 0.9999
_INT8_MIN_COSINE = 0.97


class OnnxExportError(RuntimeError):
    """The model cannot be exported or its export does not reproduce the torch model."""


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def model_spec(model_dir: Path) -> dict[str, Any]:
    """What the ONNX runner needs to reproduce the sentence-transformers pipeline of `model_dir`.

    Only the common shape is supported: a Transformer module, mean pooling, optionally Normalize (the runner
    always normalises, as the torch backend is asked to).
    """
    modules = json.loads((model_dir / "modules.json").read_text(encoding="utf-8"))
    kinds = [m["type"].rsplit(".", 1)[-1] for m in modules]
    if kinds[:2] != ["Transformer", "Pooling"] or any(k != "Normalize" for k in kinds[2:]):
        raise OnnxExportError(f"the ONNX backend supports Transformer + Pooling (+ Normalize) models, not {kinds}")
    pooling = _read_json(model_dir / modules[1]["path"] / "config.json")
    modes = [k for k, v in pooling.items() if k.startswith("pooling_mode") and v]
    if modes != ["pooling_mode_mean_tokens"]:
        raise OnnxExportError(f"the ONNX backend supports mean pooling only, this model uses {modes}")
    st_config = _read_json(model_dir / "sentence_bert_config.json")
    tok_config = _read_json(model_dir / "tokenizer_config.json")
    return {
        "max_seq_length": int(st_config.get("max_seq_length") or tok_config.get("model_max_length") or 512),
        "pad_token": tok_config.get("pad_token") or "[PAD]",
        "dimension": int(pooling.get("word_embedding_dimension") or 0),
    }


def cache_key(model_dir: Path) -> str:
    """Identifies one export: the model's files (by name, size, mtime), the library versions and the recipe."""
    from importlib.metadata import PackageNotFoundError, version

    def installed(package: str) -> str:
        try:
            return version(package)  # read from package metadata: importing torch here would cost seconds
        except PackageNotFoundError:
            return "none"

    files = sorted(p for p in model_dir.rglob("*") if p.is_file())
    stats = [(str(p.relative_to(model_dir)), p.stat().st_size, p.stat().st_mtime_ns) for p in files]
    versions = [installed(p) for p in ("torch", "onnx", "onnxruntime", "transformers")]
    blob = json.dumps([str(model_dir.resolve()), stats, versions, RECIPE])
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def _valid(folder: Path) -> bool:
    meta = _read_json(folder / META_FILE) if (folder / META_FILE).is_file() else {}
    onnx = folder / ONNX_FILE
    return bool(meta) and onnx.is_file() and meta.get("sha256") == sha256_file(onnx)


def ensure_export(model_dir: Path, cache_dir: Path) -> Path:
    """The folder holding the int8 export of `model_dir`, exporting it first if the cache has none.

    Safe with several processes: one exports under a file lock while the others wait, then all read it. A
    cache folder that cannot be written (a read-only home) falls back to one in the temporary folder.
    """
    try:
        return _ensure_export(model_dir, cache_dir)
    except OSError as exc:
        fallback = Path(tempfile.gettempdir()) / f"rag-cache-{getattr(os, 'getuid', lambda: 0)()}"
        if cache_dir == fallback:
            raise OnnxExportError(f"cannot write the model export to {cache_dir}: {exc}") from exc
        logging.getLogger(__name__).warning(
            "cannot write the model export to %s (%s); using %s instead (set RAG_CACHE_DIR to choose)",
            cache_dir, exc, fallback,
        )  # fmt: skip
        try:
            return _ensure_export(model_dir, fallback)
        except OSError as exc2:
            raise OnnxExportError(
                f"cannot write the model export to {cache_dir} ({exc}) nor to {fallback} ({exc2}); "
                "set RAG_CACHE_DIR to a writable folder"
            ) from exc2


def _ensure_export(model_dir: Path, cache_dir: Path) -> Path:
    import filelock

    key = cache_key(model_dir)
    folder = cache_dir / "onnx" / key
    if _valid(folder):
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    with filelock.FileLock(str(folder.parent / f"{key}.lock")):
        if _valid(folder):  # another process finished while we waited
            return folder
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{key}-", dir=folder.parent))
        try:
            _export(model_dir, tmp)
            shutil.rmtree(folder, ignore_errors=True)
            os.replace(tmp, folder)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return folder


def _export(model_dir: Path, out: Path) -> None:
    """Export, quantise and check the model into `out` (a fresh folder)."""
    import inspect

    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from sentence_transformers import SentenceTransformer

    spec = model_spec(model_dir)
    st = SentenceTransformer(str(model_dir), device="cpu")
    # torch types a module's submodules as `Tensor | Module` (looked up by name): this one is the HF model.
    hf = cast(torch.nn.Module, st[0].auto_model).eval()
    accepted = inspect.signature(hf.forward).parameters
    inputs = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in accepted]

    class _Hidden(torch.nn.Module):
        """The transformer with positional inputs and one output, as the exporter wants it."""

        def __init__(self, model: torch.nn.Module) -> None:
            super().__init__()
            self.model = model

        def forward(self, *args: torch.Tensor) -> torch.Tensor:
            return self.model(**dict(zip(inputs, args, strict=True))).last_hidden_state

    dummy = tuple(torch.ones((2, 8), dtype=torch.long) for _ in inputs)
    axes = {name: {0: "batch", 1: "tokens"} for name in [*inputs, "hidden"]}
    fp32 = out / "model.fp32.onnx"
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer warnings about Python control flow on shapes
        # The TorchScript exporter (dynamo=False) needs only `onnx`; the dynamo one would also need onnxscript.
        torch.onnx.export(
            _Hidden(hf), dummy, str(fp32), input_names=inputs, output_names=["hidden"], dynamic_axes=axes,
            opset_version=_OPSET, dynamo=False,
        )  # fmt: skip
    int8 = out / ONNX_FILE
    # Dynamic quantisation: int8 weights (per output channel), activations quantised on the fly per batch;
    # only MatMuls, where the time goes. No calibration data needed.
    quiet = logging.getLogger()  # onnxruntime logs a pre-processing tip on the root logger at WARNING
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        quantize_dynamic(
            str(fp32), str(int8), weight_type=QuantType.QInt8, per_channel=True, op_types_to_quantize=["MatMul"]
        )
    finally:
        quiet.setLevel(level)
    meta = {**spec, "inputs": inputs, "model_dir": str(model_dir), "recipe": RECIPE, "sha256": sha256_file(int8)}
    reference = st.encode(_PROBES, normalize_embeddings=True, convert_to_numpy=True)
    meta["dimension"] = int(reference.shape[1])
    for path, floor in ((fp32, _FP32_MIN_COSINE), (int8, _INT8_MIN_COSINE)):
        got = OnnxModel(model_dir, path, meta).encode(_PROBES)
        worst = float(np.min(np.sum(got * reference, axis=1)))
        if worst < floor:
            raise OnnxExportError(f"the ONNX export of '{model_dir}' disagrees with torch (cosine {worst:.4f})")
    fp32.unlink()
    (out / META_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")


class OnnxModel:
    """An exported model run by onnxruntime: `encode(texts)` returns L2-normalised float32 rows."""

    def __init__(self, model_dir: Path, onnx_path: Path, meta: dict[str, Any], threads: int = 0) -> None:
        """`threads`: the session's intra-op threads (0: ONNX Runtime's default, one per core). A process that
        shares the cores with others of its kind (a Ray actor per core) takes 1: each pool's threads spin
        while waiting, and two pools of 2 on 2 cores take turns instead of running side by side."""
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tokenizer.enable_truncation(int(meta["max_seq_length"]))
        pad = str(meta["pad_token"])
        pad_id = self.tokenizer.token_to_id(pad)
        self.tokenizer.enable_padding(pad_id=0 if pad_id is None else pad_id, pad_token=pad)
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
        self.inputs = [i.name for i in self.session.get_inputs()]
        self.dimension = int(meta["dimension"])

    @classmethod
    def from_cache(cls, model_dir: Path, folder: Path, threads: int = 0) -> OnnxModel:
        return cls(model_dir, folder / ONNX_FILE, _read_json(folder / META_FILE), threads)

    def encode(self, texts: list[str]) -> np.ndarray:
        """One padded batch through the model, mean-pooled over real tokens and normalised."""
        # sentence-transformers strips each text before tokenising; so do we, to embed identically.
        encodings = self.tokenizer.encode_batch([t.strip() for t in texts])
        ids = np.asarray([e.ids for e in encodings], dtype=np.int64)
        mask = np.asarray([e.attention_mask for e in encodings], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        hidden = self.session.run(None, {name: feeds[name] for name in self.inputs})[0]
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return np.ascontiguousarray(pooled / np.clip(norms, 1e-12, None), dtype=np.float32)

    def encode_spans(self, text: str, spans: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
        """`text`'s vector (as `encode([text])`) and, from the same run, one vector per character span of it.

        A span's vector is the mean of the token vectors whose first character lies in it, normalised: the
        tokens were computed with the whole text around them ("late chunking"), so a sentence like "He
        concluded: 'only with military power'" carries who "he" is. A span wholly past the model's token limit
        gets a zero row.
        """
        lead = len(text) - len(text.lstrip())
        enc = self.tokenizer.encode_batch([text.strip()])[0]
        ids = np.asarray([enc.ids], dtype=np.int64)
        mask = np.asarray([enc.attention_mask], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        hidden = self.session.run(None, {name: feeds[name] for name in self.inputs})[0][0]
        return pool_spans(hidden, mask[0], enc.offsets, enc.special_tokens_mask, lead, spans)


def pool_spans(
    hidden: np.ndarray,
    mask: np.ndarray,
    offsets: list[tuple[int, int]],
    special: list[int],
    lead: int,
    spans: list[tuple[int, int]],
) -> tuple[np.ndarray, np.ndarray]:
    """Mean-pool `hidden` (tokens × dim) over all real tokens, and over the tokens starting in each span."""

    def unit(rows: np.ndarray) -> np.ndarray:
        if not len(rows):
            return np.zeros(hidden.shape[1], dtype=np.float32)
        v = rows.mean(axis=0)
        return (v / max(float(np.linalg.norm(v)), 1e-12)).astype(np.float32)

    whole = unit(hidden[mask.astype(bool)])
    starts = np.asarray([o[0] + lead for o in offsets])
    real = mask.astype(bool) & ~np.asarray(special, dtype=bool)
    rows = (
        np.stack([unit(hidden[real & (starts >= s) & (starts < e)]) for s, e in spans])
        if spans
        else (np.zeros((0, hidden.shape[1]), dtype=np.float32))
    )
    return whole, rows
