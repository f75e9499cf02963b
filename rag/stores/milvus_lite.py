"""What only Milvus Lite (the embedded, one-process Milvus) needs: quieter logs from its
in-process server, who holds its file when a second process tries to open it, and the
leftover of a collection whose creation was killed."""

from __future__ import annotations

import logging
import shutil
import threading
from collections import Counter
from pathlib import Path

from rag.errors import IndexLockedError

__all__ = [
    "LiteServers",
    "SERVERS",
    "clear_interrupted_create",
    "held_error",
    "quiet_lite_server",
]


class _LiteNoise(logging.Filter):
    """Milvus Lite logs tracebacks that are not errors for us: its embedded gRPC server, for
    each RPC it does not implement (pymilvus asks for AllocTimestamp while waiting for an
    index it already built; the client carries on); its server manager, when the file is
    locked by another process (we raise IndexLockedError saying so)."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, NotImplementedError):
            return False
        return type(error).__name__ != "DataDirLockedError"


def quiet_lite_server() -> None:
    """Drop the log records of Milvus Lite's server that are not errors for us."""
    import jieba  # Milvus Lite's jieba analyzer loads it; its dictionary log is noise

    jieba.setLogLevel(logging.WARNING)
    for name in ("grpc._server", "milvus_lite.server_manager"):
        log = logging.getLogger(name)
        if not any(isinstance(f, _LiteNoise) for f in log.filters):
            log.addFilter(_LiteNoise())


def lock_holder(lock: Path) -> int | None:
    """The process holding a `flock` on `lock`, from /proc/locks (Linux); None if unknown."""
    try:
        inode = lock.stat().st_ino
        table = Path("/proc/locks").read_text()
    except OSError:
        return None
    for line in table.splitlines():
        # "1: FLOCK  ADVISORY  WRITE 12345 08:01:1234567 0 EOF"
        parts = line.split()
        if len(parts) > 5 and parts[1] == "FLOCK" and parts[5].split(":")[-1] == str(inode):
            return int(parts[4])
    return None


def held_error(path: Path) -> IndexLockedError:
    """The error for a Milvus Lite file another process has open: who, and how to share."""
    pid = lock_holder(path / "LOCK")
    holder = f"process {pid}" if pid else "another process"
    return IndexLockedError(
        f"the Milvus Lite database {path} is open in {holder}; Milvus Lite serves one process "
        "per file. Wait for it to finish, or share the index through a server: run "
        f"`milvus-lite server --data-dir {path}` (or a Milvus standalone) and set "
        "store.uri = http://127.0.0.1:19530"
    )


class LiteServers:
    """How many of our stores use each Milvus Lite file's embedded server in this process.

    Milvus Lite runs one server per file per process (its `server_manager_instance`, itself
    process-wide) and `release_server` stops it at once, under every other client of the
    file: a reader would lose its connection when a writer in the same process closes. So
    the server is released when the last of our stores on the file closes.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users: Counter[str] = Counter()

    def acquire(self, path: str) -> None:
        """One more store uses the server of `path`."""
        with self._lock:
            self._users[str(Path(path).resolve())] += 1

    def release(self, path: str) -> None:
        """One store less; the last one stops the server (and frees the file)."""
        key = str(Path(path).resolve())
        with self._lock:
            self._users[key] -= 1
            last = self._users[key] <= 0
            if last:
                del self._users[key]
        if last:
            from milvus_lite.server_manager import server_manager_instance

            server_manager_instance.release_server(key)


# Mirrors Milvus Lite's own process-wide server table (see LiteServers); not configuration.
SERVERS = LiteServers()


def clear_interrupted_create(database: Path, collection: str) -> bool:
    """Remove what a killed `create_collection` left of `collection` in the Milvus Lite
    `database`; True when there was something.

    Milvus Lite (3.2) makes the collection's folder, then writes its `schema.json`, and a
    collection exists for it when that file does. A process killed in between leaves a
    folder that `has_collection` does not see and that `create_collection` refuses to make
    again ("File exists"), so the index could never be opened again (found by the crash
    soak). Without a schema nothing in the folder was ever used. Only for a collection that
    does not exist, on a database this process holds (Milvus Lite serves one process).
    """
    folder = database / "collections" / collection
    if not folder.is_dir() or (folder / "schema.json").exists():
        return False
    shutil.rmtree(folder)
    logging.getLogger(__name__).warning(
        "removed %s: a Milvus Lite collection whose creation was interrupted", folder
    )
    return True
