"""The onnx embedder: the same model run by ONNX Runtime, without torch at run time.

The transformer is exported once from the model's own weights (rag.embed.onnx_export) and
kept under its hash; this module tokenizes with the model's own tokenizer.json, runs the
file, and pools and normalises as sentence-transformers does. At fp32 the vectors equal
sentence-transformers' (cosine 1.00000 over 600 SciFact abstracts); loading takes about a
quarter of a second instead of about five (no torch, transformers or scikit-learn import).
Batches are sorted by length and padded only to their longest text.

Example:
    >>> from rag.config import EmbedderConfig
    >>> embedder = OnnxEmbedder(EmbedderConfig(backend="onnx", quantize="int8"))
    >>> embedder.embed_query("how many days of leave?").shape  # doctest: +SKIP
    (384,)
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rag.config import EmbedderConfig
from rag.embed.base import ModelEmbedder, ModelFingerprint
from rag.embed.model_files import (
    HFTokenizer,
    ModelLayout,
    fast_tokenizer,
    hash_model_dir,
    read_layout,
    resolve_model_dir,
)
from rag.embed.onnx_export import default_cache_dir, exported_model
from rag.errors import ModelUnavailableError

__all__ = ["ExportedEmbedder", "OnnxEmbedder", "Runtime", "model_feed"]

logger = logging.getLogger(__name__)

# ONNX Runtime keeps the memory of the largest batch it has run (its arena): peak RSS grows
# with the batch (1000 SciFact abstracts, int8: 4 -> 300 MB, 8 -> 408, 16 -> 646, 32 ->
# 1144, 64 -> 1979), and batches of 8 are also the fastest there (24.5-26.6 s against 26.3-29.0
# for 16 and 28.2 for 4): texts are sorted by length, so small batches pad little.
_MAX_BATCH = 8


@dataclass(frozen=True, slots=True)
class Runtime:
    """An opened model file: `infer` maps the named int64 inputs to the token states."""

    infer: Callable[[dict[str, np.ndarray]], np.ndarray]
    inputs: frozenset[str]
    backend: str  # the manifest's name for what computed the vectors
    file: Path


class ExportedEmbedder(ModelEmbedder):
    """A model exported from its own weights and run without torch (the onnx and openvino
    backends): the model's own tokenizer.json, batches sorted by length and padded to their
    longest text, pooling and normalisation as sentence-transformers does. A subclass opens
    the runtime (`_open`); one model call at a time (each uses every core)."""

    max_batch = _MAX_BATCH
    pad_to = 1  # batches are padded to a multiple of this many tokens

    def __init__(self, config: EmbedderConfig) -> None:
        super().__init__((config.query_prefix, config.document_prefix))
        self._config = config
        self._runtime: Runtime | None = None
        self._encoder: Any = None
        self._layout: ModelLayout | None = None

    def _open(self, layout: ModelLayout, sha256: str, cache: Path) -> Runtime:
        raise NotImplementedError

    def _threads(self) -> int:
        return self._config.threads or len(os.sched_getaffinity(0))

    def _load(self) -> None:
        config = self._config
        path = resolve_model_dir(config)
        layout = read_layout(path)
        sha256 = hash_model_dir(path)
        cache = Path(config.cache_dir).expanduser() if config.cache_dir else default_cache_dir()
        tokenizer_file = layout.transformer_dir / "tokenizer.json"
        if not tokenizer_file.is_file():
            raise ModelUnavailableError(
                f"the model at {path} has no tokenizer.json; the {config.backend} backend needs "
                "the fast tokenizer's file: set embedder.backend = 'sentence_transformers'"
            )
        runtime = self._open(layout, sha256, cache)
        encoder = fast_tokenizer(layout, truncate=True)  # batches are padded in `_run`
        counter = fast_tokenizer(layout, truncate=False)
        self._tokenizer = HFTokenizer(counter, layout.max_seq_length - 2)
        self._encoder, self._layout, self._runtime = encoder, layout, runtime
        # last: it marks the model as loaded
        self._fingerprint = ModelFingerprint(
            config.model, sha256, layout.dimension, runtime.backend
        )
        logger.info(
            "loaded embedding model %s (%s) from %s", config.model, runtime.backend, runtime.file
        )

    def _encode(self, texts: list[str]) -> np.ndarray:
        self.warm_up()
        layout = self._layout
        assert layout is not None
        out = np.zeros((len(texts), layout.dimension), dtype=np.float32)
        if not texts:
            return out
        if layout.lowercase:
            texts = [t.lower() for t in texts]
        with self._lock:
            ids = [e.ids for e in self._encoder.encode_batch(texts)]
            order = np.argsort([len(i) for i in ids], kind="stable")
            step = min(self._config.batch_size, self.max_batch)
            for start in range(0, len(texts), step):
                rows = order[start : start + step]
                out[rows] = self._run([ids[r] for r in rows], layout.pooling)
        return out

    def _run(self, ids: list[list[int]], pooling: str) -> np.ndarray:
        """Vectors of one batch, padded to its longest text."""
        runtime = self._runtime
        assert runtime is not None
        width = -(-max(len(i) for i in ids) // self.pad_to) * self.pad_to
        tokens = np.zeros((len(ids), width), dtype=np.int64)
        mask = np.zeros_like(tokens)
        for row, piece in enumerate(ids):
            tokens[row, : len(piece)] = piece
            mask[row, : len(piece)] = 1
        hidden = runtime.infer(model_feed(tokens, mask, runtime.inputs))
        if pooling == "cls":
            vectors = hidden[:, 0]
        else:
            weights = mask[..., None].astype(np.float32)
            vectors = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return np.asarray(vectors / np.maximum(norms, 1e-12), dtype=np.float32)


def model_feed(
    tokens: np.ndarray, mask: np.ndarray, names: frozenset[str] | set[str]
) -> dict[str, np.ndarray]:
    """The transformer's inputs for one padded batch, as many as the model takes (`names`)."""
    feed = {"input_ids": tokens, "attention_mask": mask, "token_type_ids": np.zeros_like(tokens)}
    return {k: v for k, v in feed.items() if k in names}


class OnnxEmbedder(ExportedEmbedder):
    """Embeds with ONNX Runtime on the CPU."""

    def _open(self, layout: ModelLayout, sha256: str, cache: Path) -> Runtime:
        precision = self._config.precision
        file = exported_model(layout, sha256, precision, cache)
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = self._threads()
        options.inter_op_num_threads = 1
        try:
            session = ort.InferenceSession(str(file), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own untyped errors
            raise ModelUnavailableError(
                f"cannot load the exported model {file} ({exc}); remove it to export again"
            ) from exc
        backend = "onnx-int8" if precision == "int8" else "onnx"
        inputs = frozenset(i.name for i in session.get_inputs())
        return Runtime(lambda feed: session.run(None, feed)[0], inputs, backend, file)
