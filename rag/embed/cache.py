"""An embedder that remembers the vectors of texts it has embedded (bounded, per instance).

The compressor and the extractive answer both embed the sentences of the same retrieved
chunks; sharing one `CachedEmbedder` between them embeds each sentence once per question.

Example:
    >>> cached = CachedEmbedder(embedder, size=4096)  # doctest: +SKIP
    >>> cached.embed_documents(["a", "b"]); cached.embed_documents(["b"])  # doctest: +SKIP
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from rag.embed.base import Embedder, ModelFingerprint, Tokenizer

__all__ = ["CachedEmbedder"]


class CachedEmbedder:
    """Wraps an embedder; the `size` most recently used document vectors are kept. Safe to
    share between threads: the cache is locked, the model call is not held under it."""

    def __init__(self, inner: Embedder, size: int = 4096) -> None:
        self._inner, self._size = inner, size
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def warm_up(self) -> None:
        self._inner.warm_up()

    @property
    def fingerprint(self) -> ModelFingerprint:
        return self._inner.fingerprint

    @property
    def tokenizer(self) -> Tokenizer:
        return self._inner.tokenizer

    def embed_query(self, text: str) -> np.ndarray:
        return self._inner.embed_query(text)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._inner.embed_queries(texts)

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.fingerprint.dimension), dtype=np.float32)
        with self._lock:
            known = {t: self._vectors[t] for t in texts if t in self._vectors}
        missing = list(dict.fromkeys(t for t in texts if t not in known))
        if missing:
            known.update(zip(missing, self._inner.embed_documents(missing), strict=True))
        with self._lock:
            for text in texts:
                self._vectors[text] = known[text]
                self._vectors.move_to_end(text)
            while len(self._vectors) > self._size:
                self._vectors.popitem(last=False)
        return np.stack([known[t] for t in texts])
