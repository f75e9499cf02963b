"""The reranker contract: re-score the best hits for a query, best first."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from rag.types import Hit

__all__ = ["Reranker"]


class Reranker(Protocol):
    """Re-orders retrieved hits; cheap to construct, loads its model on first use."""

    def rerank(self, query: str, hits: Sequence[Hit]) -> list[Hit]:
        """The hits, the re-scored ones first by their new score, the rest after in order."""
        ...
