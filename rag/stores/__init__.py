"""Vector stores, chosen by `store.backend`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from rag.config import StoreConfig
from rag.registry import build
from rag.stores.base import And, Filter, FilterExpr, VectorStore

__all__ = ["REGISTRY", "And", "Filter", "FilterExpr", "StoreFactory", "VectorStore", "open_store"]

StoreFactory = Callable[[StoreConfig, Path, int], VectorStore]


def _chroma(config: StoreConfig, data_dir: Path, dimension: int) -> VectorStore:
    from rag.stores.chroma import ChromaStore

    return ChromaStore(data_dir / "chroma", config.collection, dimension)


REGISTRY: dict[str, StoreFactory] = {"chroma": _chroma}


def open_store(config: StoreConfig, data_dir: Path, dimension: int) -> VectorStore:
    """Open the store named by `config.backend` under `data_dir`."""
    return build(REGISTRY, "store.backend", config.backend, config, data_dir, dimension)
