"""An embedder that remembers the vectors of texts it has embedded (bounded, per instance).

The compressor and the extractive answer both embed the sentences of the same retrieved
chunks; sharing one `CachedEmbedder` between them embeds each sentence once per question.
Queries are remembered too (their own bound): a question asked again, or a rewrite that
repeats the question, costs no model call.

Example:
    >>> cached = CachedEmbedder(embedder, size=4096)  # doctest: +SKIP
    >>> cached.embed_documents(["a", "b"]); cached.embed_documents(["b"])  # doctest: +SKIP
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence

import numpy as np

from rag.embed.base import Embedder, Wrapper

__all__ = ["CachedEmbedder"]


class CachedEmbedder(Wrapper):
    """Wraps an embedder; the `size` most recently used document vectors and query vectors
    (each kind its own `size`) are kept. Safe to share between threads: the cache is locked,
    the model call is not held under it."""

    def __init__(self, inner: Embedder, size: int = 4096) -> None:
        super().__init__(inner)
        self._size = size
        self._documents: OrderedDict[str, np.ndarray] = OrderedDict()
        self._queries: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def embed_query(self, text: str) -> np.ndarray:
        vector: np.ndarray = self._cached(self._queries, [text], self._inner.embed_queries)[0]
        return vector

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._cached(self._queries, texts, self._inner.embed_queries)

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self._cached(self._documents, texts, self._inner.embed_documents)

    def _cached(
        self,
        vectors: OrderedDict[str, np.ndarray],
        texts: Sequence[str],
        embed: Callable[[Sequence[str]], np.ndarray],
    ) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.fingerprint.dimension), dtype=np.float32)
        with self._lock:
            known = {t: vectors[t] for t in texts if t in vectors}
        missing = list(dict.fromkeys(t for t in texts if t not in known))
        if missing:
            known.update(zip(missing, embed(missing), strict=True))
        with self._lock:
            for text in texts:
                vectors[text] = known[text]
                vectors.move_to_end(text)
            while len(vectors) > self._size:
                vectors.popitem(last=False)
        return np.stack([known[t] for t in texts])
