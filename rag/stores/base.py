"""The vector store contract (C3): one small protocol every backend implements.

Scores are cosine similarity, higher is better; each backend converts its own distance in
one place. Ids are chunk content hashes, so an upsert of the same chunk is a no-op.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

import numpy as np

from rag.types import Chunk, Hit

__all__ = ["And", "Filter", "FilterExpr", "NativeLexicalStore", "VectorStore"]

Op = Literal["eq", "ne", "in", "gt", "gte", "lt", "lte"]


@dataclass(frozen=True, slots=True)
class Filter:
    """`field op value` on chunk metadata (`doc_id`, `source`, `page`, `section`, ...)."""

    field: str
    op: Op
    value: str | int | float | tuple[str | int | float, ...]


@dataclass(frozen=True, slots=True)
class And:
    """All of the given filters."""

    filters: tuple[Filter, ...]


FilterExpr = Filter | And


class VectorStore(Protocol):
    """One collection of chunks with their vectors."""

    def upsert(self, chunks: Sequence[Chunk], vectors: np.ndarray) -> None:
        """Insert or replace chunks by id."""
        ...

    def delete(self, ids: Sequence[str]) -> None:
        """Remove chunks by id; unknown ids are ignored."""
        ...

    def delete_where(self, where: FilterExpr) -> None:
        """Remove every chunk matching `where`."""
        ...

    def get(self, ids: Sequence[str]) -> list[Chunk]:
        """The chunks with these ids that exist, in no particular order."""
        ...

    def rank_dense(
        self, vector: np.ndarray, k: int, where: FilterExpr | None = None
    ) -> list[tuple[str, float]]:
        """Like `search_dense`, (chunk id, cosine) pairs only: no text or metadata read (a
        second search whose chunks are mostly known already costs a third as much)."""
        ...

    def vectors(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        """The stored vectors of the chunks with these ids that exist, by id (for
        pseudo-relevance feedback: a few ids per question)."""
        ...

    def count(self) -> int:
        """Number of chunks stored."""
        ...

    def scan(self, batch: int = 1000) -> Iterator[tuple[list[Chunk], np.ndarray]]:
        """Every chunk with its vector, `batch` at a time (for copying an index)."""
        ...

    def search_dense(
        self, vector: np.ndarray, k: int, where: FilterExpr | None = None
    ) -> list[Hit]:
        """The `k` chunks most similar to `vector`, best first."""
        ...

    def sibling(self, collection: str) -> VectorStore:
        """Another collection on the same connection (the summaries of the two-level index);
        closing this store closes the connection they share."""
        ...

    def drop(self) -> None:
        """Remove the collection and everything in it (a knowledge base deleted); the store
        is unusable afterwards except for `close`."""
        ...

    def close(self) -> None:
        """Release files and connections (of siblings too)."""
        ...


@runtime_checkable
class NativeLexicalStore(Protocol):
    """A store that runs BM25, and dense + BM25 fused by reciprocal rank, itself (Milvus):
    a cluster then needs no local lexical index."""

    def search_lexical(self, text: str, k: int, where: FilterExpr | None = None) -> list[Hit]:
        """The `k` chunks whose text best matches `text` by BM25, best first."""
        ...

    def search_hybrid(
        self,
        text: str,
        vector: np.ndarray,
        k: int,
        *,
        candidates: int,
        rrf_k: int,
        where: FilterExpr | None = None,
    ) -> list[Hit]:
        """Dense and BM25 searches (`candidates` each) fused by RRF, in one request."""
        ...
