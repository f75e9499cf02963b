"""The retriever contract (C1): a question in, scored chunks out, best first."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from rag.types import Filters, Hit

__all__ = ["Retriever", "Search", "SearchTrace"]


@dataclass(frozen=True, slots=True)
class SearchTrace:
    """What each step produced for one question."""

    queries: tuple[str, ...]
    retrieved: tuple[Hit, ...]
    hits: tuple[Hit, ...]
    warnings: tuple[str, ...] = ()


class Retriever(Protocol):
    """Finds the chunks that answer a question."""

    def retrieve(self, query: str, k: int, filters: Filters | None = None) -> list[Hit]:
        """The `k` best chunks for `query`, best first, each with every stage's score; with
        `filters`, only chunks of the documents they allow."""
        ...


class Search(Protocol):
    """The whole search of one knowledge base or several: rewriting, retrieval, reranking."""

    def trace(
        self,
        query: str,
        k: int,
        history: Sequence[tuple[str, str]] = (),
        filters: Filters | None = None,
    ) -> SearchTrace:
        """Every step's results for `query`; `.hits` are the `k` best."""
        ...

    def retrieve(self, query: str, k: int, filters: Filters | None = None) -> list[Hit]:
        """The `k` best hits for `query`."""
        ...
