"""One process's connection pool to the PostgreSQL that holds the shared state.

`Database.open` checks the database answers (a one-line error naming the URL without its
password when it does not) and opens a small pool of autocommit connections, each checked
before it is handed out, so a database restarted meanwhile costs one reconnect, not an
error per stale connection. Every table lives in one schema, `database.namespace`, created
on first use under an advisory lock so that processes starting together do not race on it.

`transaction(kb=...)` runs a block in one transaction holding the knowledge base's write
lock (`pg_advisory_xact_lock`): writers of one knowledge base commit one at a time (their
BM25 statistics change together), writers of different knowledge bases never wait for each
other, and readers never wait at all.

Example:
    >>> db = Database.open(config.database)  # doctest: +SKIP
    >>> with db.transaction(kb="default") as conn:  # doctest: +SKIP
    ...     conn.execute(db.sql("INSERT INTO {s}.documents ..."))
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable
from urllib.parse import urlsplit, urlunsplit

from rag.errors import ConfigError, DatabaseUnavailableError

if TYPE_CHECKING:
    import psycopg
    from psycopg_pool import ConnectionPool

    from rag.config import DatabaseConfig

__all__ = ["Database", "InDatabase", "redact"]


@runtime_checkable
class InDatabase(Protocol):
    """A component kept in a `Database` (the PostgreSQL catalog, the pgvector store): two in
    the same one can write in one transaction."""

    database: Database


def redact(url: str) -> str:
    """`url` without its password (for messages and logs)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:  # an IPv6 address
        host = f"[{host}]"
    user = f"{parts.username}:***@" if parts.username else ""
    netloc = f"{user}{host}{f':{parts.port}' if parts.port else ''}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _reason(exc: BaseException) -> str:
    """What went wrong, from a driver error: its first line without the address the
    message already names (`Connection refused`, `role "x" does not exist`)."""
    lines = str(exc).strip().splitlines()
    if not lines:
        return type(exc).__name__
    reason = lines[0].rsplit("failed: ", 1)[-1].strip()
    return reason.removeprefix("FATAL:").strip()


class Database:
    """A pool of connections to one database, and the schema its tables live in."""

    def __init__(self, pool: ConnectionPool, url: str, namespace: str) -> None:
        self._pool = pool
        self.url = url  # without the password
        self.namespace = namespace
        self._created: set[str] = set()
        self._guard = threading.Lock()
        self._local = threading.local()  # this thread's open transaction, work joins it

    @classmethod
    def open(cls, config: DatabaseConfig) -> Database:
        """Connect (waiting up to `config.connect_timeout_s`) and open the pool.

        Raises:
            ConfigError: No database.url is set, or psycopg is not installed.
            DatabaseUnavailableError: The database does not answer; the message names it.
        """
        url = config.url.get_secret_value()
        if not url:
            raise ConfigError(
                "no database is configured: set database.url (RAG_DATABASE__URL="
                "postgresql://user:password@host:5432/dbname)"
            )
        try:
            import psycopg
            from psycopg_pool import ConnectionPool
        except ImportError:
            raise ConfigError(
                "database.url needs psycopg: run pip install -e '.[postgres]' in this checkout"
            ) from None
        shown = redact(url)
        timeout = config.connect_timeout_s
        try:
            with psycopg.connect(url, connect_timeout=max(1, round(timeout))):
                pass
        except psycopg.Error as exc:
            raise DatabaseUnavailableError(
                f"cannot reach the database at {shown}: {_reason(exc)}; start it or correct "
                "database.url"
            ) from None
        pool = ConnectionPool(
            url,
            min_size=1,
            max_size=config.pool_size,
            kwargs={"autocommit": True, "connect_timeout": max(1, round(timeout))},
            check=ConnectionPool.check_connection,
            timeout=timeout,
            name=f"rag-{config.namespace}",
            open=False,
        )
        pool.open(wait=True, timeout=timeout)
        database = cls(pool, shown, config.namespace)
        with database.connection() as conn:
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS {config.namespace}")
        return database

    def sql(self, text: str) -> str:
        """`text` with `{s}` replaced by the schema (the namespace is a checked identifier)."""
        return text.replace("{s}", self.namespace)

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[Any]]:
        """A connection of the pool, in autocommit mode; inside `transaction` in this
        thread, that transaction's connection (the work joins it).

        Raises:
            DatabaseUnavailableError: The database went away.
        """
        import psycopg
        from psycopg_pool import PoolTimeout

        joined: psycopg.Connection[Any] | None = getattr(self._local, "conn", None)
        if joined is not None:
            yield joined
            return
        try:
            with self._pool.connection() as conn:
                yield conn
        except PoolTimeout as exc:
            raise DatabaseUnavailableError(
                f"no connection to the database at {self.url} within {self._pool.timeout:g} s: "
                f"it is unreachable, or all {self._pool.max_size} of this process's connections "
                "are busy (raise database.pool_size)"
            ) from exc
        except psycopg.OperationalError as exc:
            raise DatabaseUnavailableError(
                f"the database at {self.url} is unavailable: {_reason(exc)}"
            ) from exc

    @contextmanager
    def transaction(self, kb: str | None = None) -> Iterator[psycopg.Connection[Any]]:
        """One transaction; with `kb`, holding that knowledge base's write lock. Every use
        of this database in this thread inside the block joins it (a nested `transaction`
        too): writes of the catalog and of a store in this database commit together."""
        joined: psycopg.Connection[Any] | None = getattr(self._local, "conn", None)
        if joined is not None:
            if kb is not None:
                joined.execute("SELECT pg_advisory_xact_lock(%s, %s)", (self._key, _kb_key(kb)))
            yield joined
            return
        with self.connection() as conn, conn.transaction():
            if kb is not None:
                conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (self._key, _kb_key(kb)))
            self._local.conn = conn
            try:
                yield conn
            finally:
                self._local.conn = None

    @contextmanager
    def snapshot(self) -> Iterator[psycopg.Connection[Any]]:
        """A read-only transaction seeing one snapshot for all its statements (inside a
        `transaction` in this thread: that one)."""
        joined: psycopg.Connection[Any] | None = getattr(self._local, "conn", None)
        if joined is not None:
            yield joined
            return
        with self.connection() as conn, conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            yield conn

    @property
    def _key(self) -> int:
        return _kb_key(f"schema:{self.namespace}")

    def ensure(self, name: str, ddl: str) -> None:
        """Create tables (idempotent DDL, `{s}` the schema) once per process, under a lock
        that keeps processes starting together from racing on the catalog."""
        with self._guard:
            if name in self._created:
                return
            with self.transaction() as conn:
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (self._key,))
                conn.execute(self.sql(ddl))
            self._created.add(name)

    def forget(self, name: str) -> None:
        """Tables `ensure` created under `name` were dropped: create them again next time."""
        with self._guard:
            self._created.discard(name)

    def close(self) -> None:
        self._pool.close()


def _kb_key(name: str) -> int:
    """A 32-bit advisory lock key for a name (a collision only makes two writers wait)."""
    return zlib.crc32(name.encode("utf-8")) - 2**31
