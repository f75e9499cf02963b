"""The store of an index nothing was ingested into yet: it holds nothing and writes nothing.

Opening a data dir for reading before the first ingest gives an index over two of these, so
a service can start first and a question gets zero hits instead of an error.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from rag.errors import StoreError
from rag.stores.base import FilterExpr
from rag.types import Chunk, Hit

__all__ = ["EmptyStore"]


class EmptyStore:
    """A read-only store of no chunks."""

    def upsert(self, chunks: Sequence[Chunk], vectors: np.ndarray) -> None:
        raise StoreError("this index was opened for reading and holds nothing; open it to write")

    def delete(self, ids: Sequence[str]) -> None:
        return None

    def delete_where(self, where: FilterExpr) -> None:
        return None

    def get(self, ids: Sequence[str]) -> list[Chunk]:
        return []

    def rank_dense(
        self, vector: np.ndarray, k: int, where: FilterExpr | None = None
    ) -> list[tuple[str, float]]:
        return []

    def vectors(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        return {}

    def count(self) -> int:
        return 0

    def scan(self, batch: int = 1000) -> Iterator[tuple[list[Chunk], np.ndarray]]:
        return iter(())

    def search_dense(
        self, vector: np.ndarray, k: int, where: FilterExpr | None = None
    ) -> list[Hit]:
        return []

    def sibling(self, collection: str) -> EmptyStore:
        return EmptyStore()

    def drop(self) -> None:
        return None

    def close(self) -> None:
        return None
