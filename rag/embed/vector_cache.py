"""Passage vectors kept on disk, so that no text is embedded twice by the same model.

Ingestion asks `PersistentEmbedder` for its chunks' vectors; texts seen before (an unchanged
document ingested again, a passage repeated in another file, the same file in another
knowledge base of the data dir) come from `<data_dir>/embeddings.sqlite`, the rest from the
model. A vector is keyed by a hash of the model's file hash, the backend that ran it, the
document prefix and the text, so another model or backend never reads it. The file is the
ingesting writer's alone (one writer per data dir); past `max_mb` the least recently used
vectors go.

Example:
    >>> cache = SqliteVectorCache(Path(".rag/embeddings.sqlite"), max_mb=2048)  # doctest: +SKIP
    >>> vectors = PersistentEmbedder(embedder, cache, "").embed_documents(texts)  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rag.embed.base import Embedder, Wrapper
from rag.state.base import VectorCache

__all__ = ["PersistentEmbedder", "SqliteVectorCache"]

logger = logging.getLogger(__name__)

_BATCH = 500  # keys per SQL statement (SQLite's variable limit is far above)
_ROW_OVERHEAD = 60  # bytes per row besides the vector: key, stamp, b-tree


class SqliteVectorCache:
    """Vectors by key in one SQLite file, least recently used trimmed past `max_mb`: the
    embedded `rag.state.base.VectorCache`."""

    def __init__(self, path: Path, max_mb: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = _open(path)
        except sqlite3.DatabaseError as exc:  # a damaged file: it is only a cache
            aside = path.with_name(f"{path.name}.damaged")
            logger.warning(
                "the vector cache %s cannot be read (%s); moved to %s, starting an empty "
                "one (chunks seen before are embedded again)",
                path,
                exc,
                aside.name,
            )
            for suffix in ("", "-wal", "-shm"):
                part = path.with_name(path.name + suffix)
                if part.exists():
                    part.replace(aside.with_name(aside.name + suffix))
            self._db = _open(path)
        self._max_bytes = max_mb * 1024 * 1024
        self._lock = threading.Lock()

    def get(self, keys: Sequence[bytes]) -> dict[bytes, np.ndarray]:
        """The vectors of those keys the cache holds (each marked as used now)."""
        found: dict[bytes, np.ndarray] = {}
        now = time.time_ns()
        with self._lock:
            for start in range(0, len(keys), _BATCH):
                part = list(keys[start : start + _BATCH])
                marks = ",".join("?" * len(part))
                rows = self._db.execute(
                    f"SELECT key, vector FROM vectors WHERE key IN ({marks})", part
                ).fetchall()
                found.update((k, np.frombuffer(v, dtype=np.float32)) for k, v in rows)
                if rows:
                    self._db.execute(
                        f"UPDATE vectors SET used = ? WHERE key IN ({marks})", [now, *part]
                    )
        return found

    def put(self, vectors: dict[bytes, np.ndarray]) -> None:
        """Keep these vectors (float32), then trim the oldest past the size limit."""
        now = time.time_ns()
        rows = [(k, np.asarray(v, dtype=np.float32).tobytes(), now) for k, v in vectors.items()]
        with self._lock, self._db:
            self._db.execute("BEGIN")
            self._db.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?, ?)", rows)
            if rows:
                self._trim(len(rows[0][1]) + _ROW_OVERHEAD)

    def _trim(self, row_bytes: int) -> None:
        keep = self._max_bytes // row_bytes
        (count,) = self._db.execute("SELECT COUNT(*) FROM vectors").fetchone()
        if count > keep:
            self._db.execute(
                "DELETE FROM vectors WHERE key IN (SELECT key FROM vectors ORDER BY used LIMIT ?)",
                (count - keep,),
            )

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM vectors").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _open(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute(
            "CREATE TABLE IF NOT EXISTS vectors (key BLOB PRIMARY KEY, vector BLOB NOT NULL, "
            "used INTEGER NOT NULL) WITHOUT ROWID"
        )
        db.execute("CREATE INDEX IF NOT EXISTS vectors_used ON vectors (used)")
        db.execute("SELECT key, vector, used FROM vectors LIMIT 1").fetchall()
    except sqlite3.DatabaseError:
        db.close()
        raise
    return db


class PersistentEmbedder(Wrapper):
    """An embedder whose passage vectors go through a `VectorCache` (None: straight to the
    model); queries pass through. `reused` counts the vectors the cache gave."""

    def __init__(self, inner: Embedder, cache: VectorCache | None, document_prefix: str) -> None:
        super().__init__(inner)
        self._cache = cache
        model = inner.fingerprint
        self._salt = f"{model.sha256}\x00{model.backend}\x00{document_prefix}\x00".encode()
        self.reused = 0

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        if not texts or self._cache is None:
            return self._inner.embed_documents(texts)
        keys = [
            hashlib.sha256(self._salt + t.encode("utf-8", "surrogatepass")).digest() for t in texts
        ]
        known = self._cache.get(list(dict.fromkeys(keys)))
        missing = {k: t for k, t in zip(keys, texts, strict=True) if k not in known}
        if missing:
            fresh = dict(
                zip(missing, self._inner.embed_documents(list(missing.values())), strict=True)
            )
            self._cache.put(fresh)
            known.update(fresh)
        self.reused += len(texts) - len(missing)
        return np.stack([known[k] for k in keys])
