"""Passage vectors in PostgreSQL (the `VectorCache` port): shared by every ingestion worker,
so no text is embedded twice by the same model anywhere in the deployment. Least recently
used rows go past `max_mb`."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from rag.postgres import Database

__all__ = ["PgVectorCache"]

_DDL = """
CREATE TABLE IF NOT EXISTS {s}.vector_cache (
    key bytea PRIMARY KEY, vector bytea NOT NULL, used bigint NOT NULL);
CREATE INDEX IF NOT EXISTS vector_cache_used ON {s}.vector_cache (used);
"""
_ROW_OVERHEAD = 60  # bytes per row besides the vector: key, stamp, index entries


class PgVectorCache:
    """Vectors by key, float32 bytes."""

    def __init__(self, db: Database, max_mb: int) -> None:
        db.ensure("vector_cache", _DDL)
        self._db = db
        self._max_bytes = max_mb * 1024 * 1024

    def get(self, keys: Sequence[bytes]) -> dict[bytes, np.ndarray]:
        if not keys:
            return {}
        with self._db.connection() as conn:
            rows = conn.execute(
                self._db.sql(
                    "UPDATE {s}.vector_cache SET used = %s WHERE key = ANY(%s) "
                    "RETURNING key, vector"
                ),
                (time.time_ns(), list(keys)),
            ).fetchall()
        return {bytes(k): np.frombuffer(bytes(v), dtype=np.float32) for k, v in rows}

    def put(self, vectors: dict[bytes, np.ndarray]) -> None:
        """Keep these vectors, then trim the least recently used past the size limit (the
        newest of one batch last: stamps grow in the batch's order)."""
        if not vectors:
            return
        now = time.time_ns()
        rows = [
            (k, np.asarray(v, dtype=np.float32).tobytes(), now + i)
            for i, (k, v) in enumerate(vectors.items())
        ]
        with self._db.transaction() as conn:
            with conn.cursor() as cur:
                cur.executemany(
                    self._db.sql(
                        "INSERT INTO {s}.vector_cache VALUES (%s, %s, %s) ON CONFLICT (key) "
                        "DO UPDATE SET vector = EXCLUDED.vector, used = EXCLUDED.used"
                    ),
                    rows,
                )
            keep = self._max_bytes // (len(rows[0][1]) + _ROW_OVERHEAD)
            count = conn.execute(self._db.sql("SELECT count(*) FROM {s}.vector_cache")).fetchone()
            if count and count[0] > keep:
                conn.execute(
                    self._db.sql(
                        "DELETE FROM {s}.vector_cache WHERE key IN (SELECT key FROM "
                        "{s}.vector_cache ORDER BY used LIMIT %s)"
                    ),
                    (count[0] - keep,),
                )

    def __len__(self) -> int:
        with self._db.connection() as conn:
            row = conn.execute(self._db.sql("SELECT count(*) FROM {s}.vector_cache")).fetchone()
        return int(row[0]) if row else 0

    def close(self) -> None:
        """Nothing to release: the connections are the process's pool."""
