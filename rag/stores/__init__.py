"""Vector stores, chosen by `store.backend`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from rag.config import LexicalConfig, StoreConfig
from rag.errors import ConfigError
from rag.registry import build
from rag.stores.base import And, Filter, FilterExpr, NativeLexicalStore, VectorStore
from rag.stores.empty import EmptyStore

if TYPE_CHECKING:
    from rag.state.base import StateBackend

__all__ = [
    "REGISTRY",
    "And",
    "EmptyStore",
    "Filter",
    "FilterExpr",
    "NativeLexicalStore",
    "StoreFactory",
    "VectorStore",
    "open_store",
]

StoreFactory = Callable[[StoreConfig, Path, int, LexicalConfig, "StateBackend | None"], VectorStore]


def _chroma(
    config: StoreConfig,
    data_dir: Path,
    dimension: int,
    lexical: LexicalConfig,
    state: StateBackend | None,
) -> VectorStore:
    from rag.stores.chroma import ChromaStore

    return ChromaStore(data_dir / "chroma", config.collection, dimension, config)


def _milvus(
    config: StoreConfig,
    data_dir: Path,
    dimension: int,
    lexical: LexicalConfig,
    state: StateBackend | None,
) -> VectorStore:
    try:
        import pymilvus  # noqa: F401
    except ImportError:
        raise ConfigError(
            "store.backend = milvus needs pymilvus and Milvus Lite: run "
            "pip install -e '.[milvus]' in this checkout"
        ) from None
    from rag.stores.milvus import MilvusStore

    return MilvusStore(config, data_dir, dimension, lexical=lexical)


def _pgvector(
    config: StoreConfig,
    data_dir: Path,
    dimension: int,
    lexical: LexicalConfig,
    state: StateBackend | None,
) -> VectorStore:
    from rag.state.postgres import PostgresState
    from rag.stores.pgvector import PgVectorStore

    if not isinstance(state, PostgresState):
        raise ConfigError(
            "store.backend = pgvector keeps the vectors in the state's PostgreSQL: set "
            "database.url (RAG_DATABASE__URL=postgresql://user:password@host:5432/dbname)"
        )
    return PgVectorStore(state.database, config.collection, dimension)


REGISTRY: dict[str, StoreFactory] = {"chroma": _chroma, "milvus": _milvus, "pgvector": _pgvector}


def open_store(
    config: StoreConfig,
    data_dir: Path,
    dimension: int,
    lexical: LexicalConfig | None = None,
    state: StateBackend | None = None,
) -> VectorStore:
    """Open the store named by `config.backend` (under `data_dir` when embedded; in
    `state`'s database for pgvector)."""
    return build(
        REGISTRY,
        "store.backend",
        config.backend,
        config,
        data_dir,
        dimension,
        lexical or LexicalConfig(),
        state,
    )
