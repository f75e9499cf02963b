"""The retriever contract (C1): a question in, scored chunks out, best first."""

from __future__ import annotations

from typing import Protocol

from rag.types import Hit

__all__ = ["Retriever"]


class Retriever(Protocol):
    """Finds the chunks that answer a question."""

    def retrieve(self, query: str, k: int) -> list[Hit]:
        """The `k` best chunks for `query`, best first, each with every stage's score."""
        ...
