"""The one-writer lock of a data dir: an exclusive `flock` on `<data_dir>/write.lock`.

A second writer fails within seconds, told who holds the lock: a process id, or the rag
server (its address, from `<data_dir>/server.json`) and the `--server` command to use.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from pathlib import Path
from typing import IO

from rag.errors import IndexLockedError

__all__ = ["SERVER_NOTE", "SharedWrites", "WriteLock", "WriterLock"]

SERVER_NOTE = "server.json"  # written by `rag serve`: {"pid", "url"}


class WriteLock:
    """An exclusive `flock` on `path` holding this process's id; fails after `wait_s`."""

    concurrent = False  # the only writer: whatever another write left is dead

    def __init__(self, path: Path, wait_s: float) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[str] | None = path.open("a+")
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(self._file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    self._file.seek(0)
                    holder = self._file.read().strip() or "unknown"
                    self._file.close()
                    raise IndexLockedError(_held(path.parent, holder)) from None
                time.sleep(0.2)
        self._file.seek(0)
        self._file.truncate()
        self._file.write(str(os.getpid()))
        self._file.flush()
        self._holders = 1

    def share(self) -> WriteLock:
        """The same lock for one more holder (another knowledge base's index in this
        process); it is released when every holder has released it."""
        if self._file is None:
            raise RuntimeError("the write lock was released")
        self._holders += 1
        return self

    def release(self) -> None:
        self._holders -= 1
        if self._holders <= 0 and self._file is not None:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None


class SharedWrites:
    """The write lock of a deployment whose state and vectors are all in servers (PostgreSQL,
    pgvector or a Milvus server): many processes write at once, each knowledge base's
    commits ordered by the database (`rag.postgres.Database.transaction`), so nothing is
    held here."""

    concurrent = True  # other writers are at work: only a stalled write is dead

    def share(self) -> SharedWrites:
        return self

    def release(self) -> None:
        """Nothing to release."""


WriterLock = WriteLock | SharedWrites  # what a writing runtime holds


def _held(data_dir: Path, holder: str) -> str:
    """Who holds the lock, for the user: the rag server (and how to go through it), or a
    process."""
    try:
        note = json.loads((data_dir / SERVER_NOTE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        note = {}
    if isinstance(note, dict) and str(note.get("pid")) == holder:
        url = str(note.get("url") or "")
        via = f"--server {url}" if url else "--server URL"
        return (
            f"the index in {data_dir} is held by the rag server {url or ''} (process {holder}), "
            f"which owns every write; send documents through it: rag ingest {via} PATH "
            "(or stop the server)"
        ).replace("  ", " ")
    return (
        f"the index in {data_dir} is being written by process {holder}; wait for it to finish "
        "(one writer at a time), or use another RAG_DATA_DIR"
    )
