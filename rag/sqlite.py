"""SQLite connections for one writer and many reading threads.

A SQLite connection holds one transaction at a time, so threads that each start a read
snapshot (`BEGIN`) cannot share one. `Connections` gives every thread its own read
connection, opened on first use and closed when the thread ends (a server's worker threads
come and go: their connections, each with its page cache, must not pile up), and keeps one
write connection for the writer. In WAL mode readers never block the writer nor each other,
and each sees the last committed state.

Example:
    >>> connections = Connections(Path(".rag/catalog.sqlite"))  # doctest: +SKIP
    >>> connections.read().execute("SELECT COUNT(*) FROM documents")  # doctest: +SKIP
"""

from __future__ import annotations

import sqlite3
import threading
import uuid
import weakref
from pathlib import Path

__all__ = ["Connections"]


def _connect(target: str) -> sqlite3.Connection:
    # check_same_thread off: `close()` runs in whichever thread closes the index.
    db = sqlite3.connect(
        target, timeout=30.0, isolation_level=None, check_same_thread=False, uri=True
    )
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    return db


class _Reader:
    """A thread's read connection, held by that thread's local storage only: when the
    thread ends, this goes and the connection is closed (sqlite3 connections take no weak
    references themselves)."""

    __slots__ = ("__weakref__", "db")

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        weakref.finalize(self, db.close)


class Connections:
    """The write connection, and one read connection per thread; `path` None: a private
    in-memory database that every connection of this object shares."""

    def __init__(self, path: Path | None) -> None:
        if path is None:
            self._target = f"file:rag-{uuid.uuid4().hex}?mode=memory&cache=shared"
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._target = f"{path.resolve().as_uri()}"
        self.write = _connect(self._target)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._readers: weakref.WeakSet[_Reader] = weakref.WeakSet()  # of live threads
        self._closed = False

    def read(self) -> sqlite3.Connection:
        """This thread's read connection."""
        reader: _Reader | None = getattr(self._local, "reader", None)
        if reader is None:
            with self._lock:
                if self._closed:
                    raise sqlite3.ProgrammingError(f"{self._target} is closed")
                reader = _Reader(_connect(self._target))
                self._readers.add(reader)
            self._local.reader = reader
        return reader.db

    @property
    def readers(self) -> int:
        """Read connections open now (one per live thread that has read)."""
        with self._lock:
            return len(self._readers)

    def close(self) -> None:
        """Close every connection (the writer's and each thread's)."""
        with self._lock:
            self._closed = True
            for reader in list(self._readers):
                reader.db.close()
            self._readers.clear()
        self.write.close()
