"""The PostgreSQL state (`state.backend = "postgres"`, chosen by `database.url`): every port
of `rag.state.base` in one database, shared by every API and ingestion worker that reaches
it. Tables live in the schema `database.namespace`.

Example:
    >>> state = PostgresState.open(config)  # doctest: +SKIP
    >>> state.registry().read()  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rag.config import LexicalConfig
from rag.postgres import Database
from rag.state.base import (
    Catalog,
    JobStore,
    KbRegistry,
    SourceLog,
    StateBackend,
    UploadStaging,
    VectorCache,
)

if TYPE_CHECKING:
    from rag.config import RagConfig

__all__ = ["PostgresState"]


class PostgresState:
    """Every port on one connection pool."""

    def __init__(self, db: Database, config: RagConfig) -> None:
        self.database = db
        self._config = config

    @classmethod
    def open(cls, config: RagConfig) -> PostgresState:
        """Raises:
        ConfigError: No database.url, or psycopg is missing.
        DatabaseUnavailableError: The database does not answer."""
        return cls(Database.open(config.database), config)

    @property
    def where(self) -> str:
        return f"{self.database.url} (schema {self.database.namespace})"

    def registry(self) -> KbRegistry:
        from rag.state.postgres.registry import PgRegistry

        return PgRegistry(self.database)

    def catalog(self, kb: str, lexical: LexicalConfig) -> Catalog:
        from rag.state.postgres.catalog import PgCatalog

        return PgCatalog(self.database, kb, lexical, self._config.database.bm25_pack_at)

    def drop_catalog(self, kb: str) -> None:
        from rag.state.postgres.catalog import PgCatalog

        PgCatalog(self.database, kb, LexicalConfig()).drop()

    def copy_catalog(self, kb: str, into: StateBackend) -> None:
        from rag.state.copy import copy_catalog

        copy_catalog(self, kb, into)

    def vector_cache(self, max_mb: int) -> VectorCache:
        from rag.state.postgres.vector_cache import PgVectorCache

        return PgVectorCache(self.database, max_mb)

    def sources(self, kb: str) -> SourceLog:
        from rag.state.postgres.sources import PgSourceLog

        return PgSourceLog(self.database, kb)

    def uploads(self) -> UploadStaging:
        from rag.state.postgres.uploads import PgStaging

        return PgStaging(self.database)

    def jobs(self) -> JobStore:
        from rag.state.postgres.jobs import PgJobStore

        return PgJobStore(self.database)

    def close(self) -> None:
        self.database.close()
