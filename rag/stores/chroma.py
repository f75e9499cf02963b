"""Chroma, embedded and persistent: the default store.

Example:
    >>> store = ChromaStore(Path(".rag/chroma"), "chunks", 384)  # doctest: +SKIP
    >>> store.search_dense(vector, k=5)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from rag.config import StoreConfig
from rag.errors import StoreError
from rag.stores.base import And, FilterExpr
from rag.types import Chunk, Hit

__all__ = ["ChromaStore", "to_where"]

_OPS = {
    "eq": "$eq",
    "ne": "$ne",
    "in": "$in",
    "gt": "$gt",
    "gte": "$gte",
    "lt": "$lt",
    "lte": "$lte",
}


def to_where(expr: FilterExpr) -> dict[str, Any]:
    """Translate our filter model to a Chroma `where` clause (the one place that does)."""
    if isinstance(expr, And):
        return {"$and": [to_where(f) for f in expr.filters]}
    value = list(expr.value) if isinstance(expr.value, tuple) else expr.value
    return {expr.field: {_OPS[expr.op]: value}}


def _metadata(chunk: Chunk) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "doc_id": chunk.doc_id,
        "version": chunk.version,
        "source": chunk.source,
        "section": chunk.section,
        "index": chunk.index,
        "n_tokens": chunk.n_tokens,
    }
    if chunk.page is not None:
        meta["page"] = chunk.page
    return meta


def _chunk(chunk_id: str, text: str, meta: dict[str, Any]) -> Chunk:
    page = meta.get("page")
    return Chunk(
        chunk_id=chunk_id,
        doc_id=str(meta["doc_id"]),
        version=str(meta["version"]),
        text=text,
        index=int(meta["index"]),
        source=str(meta["source"]),
        page=int(page) if page is not None else None,
        section=str(meta.get("section", "")),
        n_tokens=int(meta.get("n_tokens", 0)),
    )


def _connect(path: Path, config: StoreConfig | None) -> Any:
    import chromadb
    from chromadb.config import Settings

    settings = Settings(anonymized_telemetry=False)
    uri = config.uri if config else ""
    if not uri:
        path.mkdir(parents=True, exist_ok=True)
        return chromadb.PersistentClient(path=str(path), settings=settings)
    parts = urlsplit(uri)
    token = config.token.get_secret_value() if config else ""
    return chromadb.HttpClient(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or (443 if parts.scheme == "https" else 8000),
        ssl=parts.scheme == "https",
        headers={"Authorization": f"Bearer {token}"} if token else None,
        settings=settings,
    )


class ChromaStore:
    """A Chroma collection with cosine space; scores are `1 - cosine distance`. Embedded in
    `path`, or on a Chroma server when `config.uri` is `http://host:port`."""

    def __init__(
        self,
        path: Path,
        collection: str,
        dimension: int,
        config: StoreConfig | None = None,
        client: Any = None,
    ) -> None:
        where = (config.uri if config else "") or str(path)
        try:
            self._client = client or _connect(path, config)
            self._collection = self._client.get_or_create_collection(
                collection, configuration={"hnsw": {"space": "cosine"}}, embedding_function=None
            )
        except Exception as exc:  # chromadb raises plain ValueError/ConnectionError here
            raise StoreError(
                f"cannot open Chroma collection {collection!r} at {where}: {exc}"
            ) from exc
        self._path, self._config = path, config
        self._owns_client = client is None  # siblings share it; the first one closes it
        self._batch = int(self._client.get_max_batch_size())
        self._dimension = dimension

    def upsert(self, chunks: Sequence[Chunk], vectors: np.ndarray) -> None:
        if len(chunks) != len(vectors):
            raise StoreError(f"{len(chunks)} chunks but {len(vectors)} vectors; nothing written")
        for start in range(0, len(chunks), self._batch):
            part = chunks[start : start + self._batch]
            self._collection.upsert(
                ids=[c.chunk_id for c in part],
                embeddings=vectors[start : start + self._batch],
                documents=[c.text for c in part],
                metadatas=[_metadata(c) for c in part],
            )

    def delete(self, ids: Sequence[str]) -> None:
        for start in range(0, len(ids), self._batch):
            self._collection.delete(ids=list(ids[start : start + self._batch]))

    def delete_where(self, where: FilterExpr) -> None:
        self._collection.delete(where=to_where(where))  # type: ignore[arg-type]

    def get(self, ids: Sequence[str]) -> list[Chunk]:
        out: list[Chunk] = []
        for start in range(0, len(ids), self._batch):
            got = self._collection.get(
                ids=list(ids[start : start + self._batch]), include=["documents", "metadatas"]
            )
            out += [
                _chunk(i, d or "", dict(m or {}))
                for i, d, m in zip(
                    got["ids"], got["documents"] or [], got["metadatas"] or [], strict=True
                )
            ]
        return out

    def vectors(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        if not ids:
            return {}
        got = self._collection.get(ids=list(ids), include=["embeddings"])
        vectors = got["embeddings"] if got["embeddings"] is not None else []
        return {
            i: np.asarray(v, dtype=np.float32) for i, v in zip(got["ids"], vectors, strict=True)
        }

    def count(self) -> int:
        return int(self._collection.count())

    def scan(self, batch: int = 1000) -> Iterator[tuple[list[Chunk], np.ndarray]]:
        offset = 0
        while True:
            got = self._collection.get(
                include=["documents", "metadatas", "embeddings"], limit=batch, offset=offset
            )
            if not got["ids"]:
                return
            chunks = [
                _chunk(i, d or "", dict(m or {}))
                for i, d, m in zip(
                    got["ids"], got["documents"] or [], got["metadatas"] or [], strict=True
                )
            ]
            yield chunks, np.asarray(got["embeddings"], dtype=np.float32)
            offset += len(chunks)

    def search_dense(
        self, vector: np.ndarray, k: int, where: FilterExpr | None = None
    ) -> list[Hit]:
        if k <= 0:
            return []
        result = self._query(vector, k, where, ["documents", "metadatas", "distances"])
        ids = result["ids"][0]
        docs = (result["documents"] or [[]])[0]
        metas = (result["metadatas"] or [[]])[0]
        dists = (result["distances"] or [[]])[0]
        # Chroma's cosine space returns distance = 1 - cosine similarity.
        return [
            Hit(_chunk(i, d or "", dict(m or {})), 1.0 - float(dist), "dense")
            for i, d, m, dist in zip(ids, docs, metas, dists, strict=True)
        ]

    def rank_dense(
        self, vector: np.ndarray, k: int, where: FilterExpr | None = None
    ) -> list[tuple[str, float]]:
        if k <= 0:
            return []
        result = self._query(vector, k, where, ["distances"])
        dists = (result["distances"] or [[]])[0]
        return [(i, 1.0 - float(d)) for i, d in zip(result["ids"][0], dists, strict=True)]

    def _query(
        self, vector: np.ndarray, k: int, where: FilterExpr | None, include: list[str]
    ) -> Any:
        # Chroma 1.x returns fewer results when the collection holds fewer than k; counting
        # first would cost a round trip per query.
        return self._collection.query(
            query_embeddings=np.asarray([vector], dtype=np.float32),
            n_results=k,
            where=to_where(where) if where is not None else None,
            include=include,
        )

    def sibling(self, collection: str) -> ChromaStore:
        return ChromaStore(self._path, collection, self._dimension, self._config, self._client)

    def drop(self) -> None:
        self._client.delete_collection(self._collection.name)

    def close(self) -> None:
        # An embedded client left open keeps its vector segments cached in this process: a
        # reopen after another process wrote would read them stale ("Error finding id").
        if self._owns_client and self._client is not None:
            self._client.close()
        self._collection = None  # type: ignore[assignment]
        self._client = None  # type: ignore[assignment]
