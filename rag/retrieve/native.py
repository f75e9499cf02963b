"""`retrieval.mode = native_hybrid`: the store searches itself, dense and BM25 fused by
reciprocal rank in one request (Milvus: a BM25 function over the analysed chunk text), so a
cluster needs no local lexical index. A question in a language the embedder cannot read is
searched by BM25 alone, as the local hybrid search does. Each hit gets the same calibrated
confidence the hybrid search would give it (rag/retrieve/confidence.py): its stored vector's
cosine to the question and its BM25 share from the catalog's postings.

Example:
    >>> config = RetrievalConfig(mode="native_hybrid")
    >>> retriever = NativeHybridRetriever(index, embedder, config, {"en"})  # doctest: +SKIP
    >>> retriever.retrieve("vitamin D and bone density", 10)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Collection

import numpy as np

from rag.config import RetrievalConfig
from rag.embed.base import Embedder
from rag.embed.languages import reads
from rag.index import Index
from rag.retrieve.confidence import Calibrator
from rag.types import Filters, Hit

__all__ = ["NativeHybridRetriever"]


class NativeHybridRetriever:
    """Dense + BM25 in the store, fused there by RRF (`rrf_k`, `candidates` per search)."""

    def __init__(
        self,
        index: Index,
        embedder: Embedder,
        config: RetrievalConfig,
        languages: Collection[str],
    ) -> None:
        self._index, self._embedder, self._config = index, embedder, config
        self._languages = set(languages)
        self._calibrator = Calibrator(config.confidence, lambda: embedder.fingerprint.name)

    def retrieve(self, query: str, k: int, filters: Filters | None = None) -> list[Hit]:
        vector = self._embedder.embed_query(query) if reads(self._languages, query) else None
        with self._index.reading():
            hits = self._index.search_native(
                query,
                vector,
                k,
                candidates=self._config.candidates,
                rrf_k=int(self._config.rrf_k),
                filters=filters,
            )
            return self._calibrated(query, vector, hits)

    def _calibrated(self, query: str, vector: np.ndarray | None, hits: list[Hit]) -> list[Hit]:
        if not hits:
            return hits
        dense = None
        if vector is not None:
            stored = self._index.vectors([h.chunk.chunk_id for h in hits])
            unit = vector / (np.linalg.norm(vector) or 1.0)
            dense = [(i, float(v @ unit / (np.linalg.norm(v) or 1.0))) for i, v in stored.items()]
        bm25 = self._index.search_lexical(query, max(len(hits), self._config.candidates))
        return self._calibrator.apply(hits, dense, bm25, self._index.lexical_ceiling(query))
