"""Pseudo-relevance feedback for dense search (Rocchio, 1971): the query vector moved toward
the mean vector of the best documents a first search found, then searched again.

    q' = normalise(q + weight * mean(v_1 .. v_m))

where v_i is the vector of the best chunk of the i-th best distinct document of the first
(fused) ranking. A question's own vector says what it asks; the documents it finds first
say how the corpus writes about it, which the second search then finds more of. Measured on
SciFact (README, "Signals"): nDCG@10 0.729 -> 0.742 with m = 5, weight 0.5.

Example:
    >>> feedback = RocchioFeedback(docs=5, weight=0.5)
    >>> feedback.query(vector, fused, index, known)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from rag.index import Index
from rag.types import Chunk

__all__ = ["RocchioFeedback"]


class RocchioFeedback:
    """The feedback query vector from a first ranking; `docs` 0 turns it off."""

    def __init__(self, docs: int, weight: float) -> None:
        self.docs, self.weight = docs, weight

    @property
    def enabled(self) -> bool:
        return self.docs > 0 and self.weight > 0

    def query(
        self,
        vector: np.ndarray,
        ranked: Sequence[tuple[str, float]],
        index: Index,
        known: Mapping[str, Chunk],
    ) -> np.ndarray | None:
        """The moved query vector, or None when the first ranking found nothing to use;
        `known` are the chunks already fetched, by id (their documents)."""
        chosen = self._best_per_document(ranked, known)
        found = index.vectors(chosen)
        vectors = [found[i] for i in chosen if i in found]
        if not vectors:
            return None
        moved = vector + self.weight * np.mean(vectors, axis=0)
        norm = float(np.linalg.norm(moved))
        return (moved / norm).astype(np.float32) if norm > 0 else None

    def _best_per_document(
        self, ranked: Sequence[tuple[str, float]], known: Mapping[str, Chunk]
    ) -> list[str]:
        """The best chunk of each of the first `docs` distinct documents, in rank order,
        among the chunks already fetched (the first dense search's: the best fused chunks
        nearly always are; a chunk only BM25 found is skipped rather than fetched)."""
        chosen: dict[str, str] = {}
        for chunk_id, _ in ranked[: 4 * self.docs]:
            chunk = known.get(chunk_id)
            if chunk is not None and chunk.doc_id not in chosen:
                chosen[chunk.doc_id] = chunk_id
                if len(chosen) == self.docs:
                    break
        return list(chosen.values())
