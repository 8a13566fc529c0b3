"""Sentence embeddings for Kompress and semantic relevance: all-MiniLM-L6-v2 quantized to int8 ONNX, run with
onnxruntime and tokenizers (the `ml` extra), mean-pooled over real tokens and L2-normalised.

The extra's modules are imported on first use only, so importing this module costs nothing without it.
The model folder ships inside the package (built by scripts/build_minilm_onnx.py); no hub is ever asked.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_MODEL_DIR = Path(__file__).resolve().parents[1] / "data" / "models" / "all-minilm-l6-v2-int8"
ML_MODULES = ("onnxruntime", "tokenizers", "numpy")
_FILES = ("model.onnx", "tokenizer.json")
_MAX_CHARS = 2048  # well past the model's 256 tokens; spares tokenizing megabytes that would be truncated


class EmbeddingsUnavailable(RuntimeError):
    """The `ml` extra is not installed, or the model folder is missing or does not match its manifest."""


@dataclass(frozen=True, slots=True)
class _Model:
    session: Any
    tokenizer: Any
    dimension: int


def missing_reason(model_dir: Path = DEFAULT_MODEL_DIR) -> str | None:
    """Why embeddings cannot run here (None when they can); cheap: imports nothing and loads nothing."""
    absent = [name for name in ML_MODULES if importlib.util.find_spec(name) is None]
    if absent:
        return f"the ml extra is not installed (missing {', '.join(absent)}; pip install 'headroom[ml]')"
    lacking = [name for name in (*_FILES, "model.json") if not (model_dir / name).is_file()]
    if lacking:
        return f"model folder {model_dir} lacks {', '.join(lacking)}"
    return None


def _verified_manifest(model_dir: Path) -> dict[str, Any]:
    manifest: dict[str, Any] = json.loads((model_dir / "model.json").read_text())
    for name in _FILES:
        expected = manifest["files"][name]["sha256"]
        if hashlib.sha256((model_dir / name).read_bytes()).hexdigest() != expected:
            raise EmbeddingsUnavailable(f"{model_dir / name} does not match the sha256 in model.json")
    return manifest


@functools.cache
def _model(model_dir: Path) -> _Model:
    """Load once per process and folder (about 0.1 s). One intra-op thread: the proxy compresses blocks in
    a worker pool, and one thread per run is also the fastest for single sentences."""
    reason = missing_reason(model_dir)
    if reason is not None:
        raise EmbeddingsUnavailable(reason)
    manifest = _verified_manifest(model_dir)
    import onnxruntime
    from tokenizers import Tokenizer

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(str(model_dir / "model.onnx"), options, providers=["CPUExecutionProvider"])
    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tokenizer.enable_truncation(int(manifest["max_length"]))
    tokenizer.no_padding()
    return _Model(session=session, tokenizer=tokenizer, dimension=int(manifest["dimension"]))


@functools.lru_cache(maxsize=8192)
def _embed_one(model_dir: Path, text: str) -> array[float]:
    """One text through the model alone. The int8 model quantizes its activations per tensor, so in a padded
    batch a text's vector would depend on its neighbours; alone, a text gets the same vector in every block
    and every turn (which makes this cache valid), and with no padding to compute it is also faster on CPU.
    Cached as packed doubles: 3 KB a vector, where a tuple of floats took 12 KB (~110 MB for a full cache)."""
    import numpy as np

    model = _model(model_dir)
    ids = np.asarray([model.tokenizer.encode(text).ids], dtype=np.int64)
    feed = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}
    pooled = model.session.run(None, feed)[0][0].mean(axis=0)
    norm = float(np.linalg.norm(pooled))
    return array("d", (pooled / norm if norm > 0 else pooled).astype(np.float64).tobytes())


def embed(texts: Sequence[str], model_dir: Path = DEFAULT_MODEL_DIR) -> list[list[float]]:
    """Unit-length embeddings, one per text, in order; raises EmbeddingsUnavailable. A text's vector does
    not depend on the other texts of the call."""
    _model(model_dir)  # fail with EmbeddingsUnavailable before anything is cached
    return [list(_embed_one(model_dir, text[:_MAX_CHARS])) for text in texts]


def cosine_to(query: str, texts: Sequence[str], model_dir: Path = DEFAULT_MODEL_DIR) -> list[float]:
    """Cosine similarity of each text to the query (the vectors are unit length: a dot product)."""
    if not texts:
        return []
    vectors = embed([query, *texts], model_dir)
    anchor = vectors[0]
    return [sum(a * b for a, b in zip(anchor, vector, strict=True)) for vector in vectors[1:]]
