"""The embedder contract: texts in, L2-normalised float32 vectors out."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

__all__ = ["Embedder", "ModelEmbedder", "ModelFingerprint", "Tokenizer", "Wrapper"]


@dataclass(frozen=True, slots=True)
class ModelFingerprint:
    """What identifies an embedding model in the index manifest: the model, and what ran it
    (`backend`: sentence_transformers, onnx, onnx-int8, openvino, openvino-int8, openai,
    ollama), since two runners of one model give vectors that differ a little and are not
    mixed unknowingly. A served model has its `server` (base URL); its `sha256` is the
    server's digest of the model where it gives one (Ollama), else a hash of server and
    name."""

    name: str
    sha256: str
    dimension: int
    backend: str = "sentence_transformers"
    server: str = ""


class Tokenizer(Protocol):
    """The embedding model's own tokenizer, as the splitter needs it."""

    @property
    def max_tokens(self) -> int:
        """Word pieces the model reads per input, special tokens excluded."""
        ...

    def count(self, texts: Sequence[str]) -> list[int]:
        """Number of word pieces in each text, special tokens excluded."""
        ...

    def offsets(self, text: str) -> list[tuple[int, int]]:
        """Character span of each word piece of `text`."""
        ...


class Embedder(Protocol):
    """Turns texts into vectors. Cheap to construct; `warm_up()` loads the model."""

    def warm_up(self) -> None:
        """Load the model; safe to call twice."""
        ...

    @property
    def fingerprint(self) -> ModelFingerprint:
        """Name, file hash and dimension of the loaded model."""
        ...

    @property
    def tokenizer(self) -> Tokenizer:
        """The model's tokenizer."""
        ...

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors for passages, shape (len(texts), dimension), normalised."""
        ...

    def embed_query(self, text: str) -> np.ndarray:
        """Vector for one query, shape (dimension,), normalised."""
        ...

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors for several queries at once, shape (len(texts), dimension)."""
        ...


class Wrapper:
    """Base of the embedders that wrap another (caching, batching): everything is the inner
    embedder's unless a subclass changes it."""

    def __init__(self, inner: Embedder) -> None:
        self._inner = inner

    def warm_up(self) -> None:
        self._inner.warm_up()

    @property
    def fingerprint(self) -> ModelFingerprint:
        return self._inner.fingerprint

    @property
    def tokenizer(self) -> Tokenizer:
        return self._inner.tokenizer

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self._inner.embed_documents(texts)

    def embed_query(self, text: str) -> np.ndarray:
        return self._inner.embed_query(text)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._inner.embed_queries(texts)


class ModelEmbedder:
    """Base of the embedders that run a model (here, or by calling a server that serves it):
    `_load` (under the lock, once) sets `_fingerprint` and `_tokenizer`; `_encode` turns
    prefixed texts into vectors."""

    def __init__(self, prefixes: tuple[str, str]) -> None:
        self._query_prefix, self._document_prefix = prefixes
        self._fingerprint: ModelFingerprint | None = None
        self._tokenizer: Tokenizer | None = None
        self._lock = threading.RLock()

    def warm_up(self) -> None:
        """Load the model; a second call does nothing."""
        with self._lock:
            if self._fingerprint is None:
                self._load()

    def _load(self) -> None:
        raise NotImplementedError

    def _encode(self, texts: list[str]) -> np.ndarray:
        raise NotImplementedError

    @property
    def fingerprint(self) -> ModelFingerprint:
        self.warm_up()
        assert self._fingerprint is not None  # set by warm_up; not input validation
        return self._fingerprint

    @property
    def tokenizer(self) -> Tokenizer:
        self.warm_up()
        assert self._tokenizer is not None
        return self._tokenizer

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode([self._document_prefix + t for t in texts])

    def embed_query(self, text: str) -> np.ndarray:
        vector: np.ndarray = self._encode([self._query_prefix + text])[0]
        return vector

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode([self._query_prefix + t for t in texts])
