"""Per-thread read connections: one per live thread, closed when the thread ends (a server's
worker threads come and go; each connection holds a page cache and file handles)."""

from __future__ import annotations

import gc
import sqlite3
import threading
from pathlib import Path

import pytest

from rag.sqlite import Connections


def test_a_thread_that_ends_closes_its_read_connection(tmp_path: Path) -> None:
    path = tmp_path / "catalog.sqlite"
    connections = Connections(path)
    connections.write.execute("CREATE TABLE t (x INTEGER)")
    connections.write.execute("INSERT INTO t VALUES (1), (2)")
    counts: list[int] = []
    used: list[sqlite3.Connection] = []

    def read() -> None:
        db = connections.read()
        counts.append(db.execute("SELECT COUNT(*) FROM t").fetchone()[0])
        used.append(db)

    for _ in range(5):  # waves of short-lived threads, as a thread pool prunes idle workers
        wave = [threading.Thread(target=read) for _ in range(10)]
        for thread in wave:
            thread.start()
        for thread in wave:
            thread.join()
    gc.collect()

    assert counts == [2] * 50
    assert connections.readers == 0
    assert len({id(db) for db in used}) == 50  # one connection per thread
    for db in used:  # each closed when its thread ended
        with pytest.raises(sqlite3.ProgrammingError, match="closed"):
            db.execute("SELECT 1")
    assert connections.read().execute("SELECT COUNT(*) FROM t").fetchone()[0] == 2
    connections.close()


def test_a_live_thread_keeps_its_connection_until_close(tmp_path: Path) -> None:
    path = tmp_path / "catalog.sqlite"
    connections = Connections(path)
    first = connections.read()
    assert connections.read() is first  # the same connection for the same thread
    assert connections.readers == 1
    first.execute("SELECT 1")
    connections.close()
    with pytest.raises(sqlite3.ProgrammingError):
        first.execute("SELECT 1")
    with pytest.raises(sqlite3.ProgrammingError, match="closed"):
        connections.read().execute("SELECT 1")  # closed with the rest
