"""Two-level retrieval: summaries pick documents, then chunks are searched inside them.

1. Summaries (one per document) are searched dense + BM25 and fused; the top
   `summary_docs` documents are chosen.
2. Chunks of those documents are searched dense + BM25 and fused: every chunk scored, not
   every chunk returned (LlamaIndex's DocumentSummaryIndex returns them all, unscored).
3. A global chunk search, the plain hybrid one, is fused in (`global_weight`), so a chunk
   that the summaries missed still competes and recall never falls below plain search.

Example:
    >>> retriever = TwoLevelRetriever(HybridRetriever(...), index, config)  # doctest: +SKIP
    >>> retriever.retrieve("leave carry-over rules", k=5)  # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np

from rag.config import RetrievalConfig
from rag.index import Index
from rag.retrieve.hybrid import HybridRetriever, Rankings, fuse, materialise
from rag.types import Filters, Hit

__all__ = ["TwoLevelRetriever"]


class TwoLevelRetriever:
    """Documents by summary, then chunks inside them, fused with a global chunk search."""

    def __init__(self, chunks: HybridRetriever, index: Index, config: RetrievalConfig) -> None:
        self._chunks, self._index, self._config = chunks, index, config

    def retrieve(self, query: str, k: int, filters: Filters | None = None) -> list[Hit]:
        config = self._config
        n = max(k, config.candidates)
        vector = self._chunks.query_vector(query)
        with self._index.reading():  # one consistent view of the index
            return self._search(query, vector, n, k, self._index.allowed(filters))

    def _search(
        self,
        query: str,
        vector: np.ndarray | None,
        n: int,
        k: int,
        allowed: frozenset[str] | None,
    ) -> list[Hit]:
        config = self._config
        documents = self.documents(query, vector, allowed)
        local, inside = self._chunks.ranked(query, vector, n, {d for d, _ in documents})
        every, outside = self._chunks.ranked(query, vector, n, allowed)
        lists = Rankings(
            ranked={"local": local[:n], "global": every[:n]},
            known=inside.known | outside.known,
        )
        weights = {"local": 1.0 - config.global_weight, "global": config.global_weight}
        fused = fuse(lists.ranked, config, weights)[:k]
        hits = materialise(self._index, fused, lists, stage="two_level")
        return self._chunks.calibrated(query, hits, outside)

    def documents(
        self, query: str, vector: np.ndarray | None, allowed: frozenset[str] | None = None
    ) -> list[tuple[str, float]]:
        """Step 1: the chosen documents with their fused summary scores, best first (among
        `allowed` documents when given)."""
        n = max(self._config.summary_docs, self._config.candidates)
        ranked = {}
        if vector is not None:
            ranked["dense"] = self._index.search_summaries(vector, n, allowed)
        ranked["bm25"] = self._index.search_summaries_lexical(query, n, allowed)
        return fuse(ranked, self._config)[: self._config.summary_docs]
