"""An embedder that remembers the vectors of texts it has embedded (bounded, per instance).

The compressor and the extractive answer both embed the sentences of the same retrieved
chunks; sharing one `CachedEmbedder` between them embeds each sentence once per question.

Example:
    >>> cached = CachedEmbedder(embedder, size=4096)  # doctest: +SKIP
    >>> cached.embed_documents(["a", "b"]); cached.embed_documents(["b"])  # doctest: +SKIP
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from rag.embed.base import Embedder, ModelFingerprint, Tokenizer

__all__ = ["CachedEmbedder"]


class CachedEmbedder:
    """Wraps an embedder; the `size` most recently used document vectors are kept."""

    def __init__(self, inner: Embedder, size: int = 4096) -> None:
        self._inner, self._size = inner, size
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()

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

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        missing = list(dict.fromkeys(t for t in texts if t not in self._vectors))
        if missing:
            for text, vector in zip(missing, self._inner.embed_documents(missing), strict=True):
                self._vectors[text] = vector
        if not texts:
            return np.zeros((0, self.fingerprint.dimension), dtype=np.float32)
        out = np.stack([self._vectors[t] for t in texts])
        for text in texts:
            self._vectors.move_to_end(text)
        while len(self._vectors) > self._size:
            self._vectors.popitem(last=False)
        return out
