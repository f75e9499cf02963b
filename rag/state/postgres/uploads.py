"""Upload bytes in PostgreSQL (the `UploadStaging` port): an API worker on one host streams
an upload into the database in parts of 1 MB; the ingestion worker that claims its job, on
any host, copies the batch into a private temporary folder for parsing."""

from __future__ import annotations

import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rag.postgres import Database

__all__ = ["PgStaging"]

_DDL = """
CREATE TABLE IF NOT EXISTS {s}.upload_batches (
    batch text PRIMARY KEY, created_at double precision NOT NULL);
CREATE TABLE IF NOT EXISTS {s}.upload_parts (
    batch text NOT NULL REFERENCES {s}.upload_batches ON DELETE CASCADE, name text NOT NULL,
    seq integer NOT NULL, data bytea NOT NULL, PRIMARY KEY (batch, name, seq));
"""
_PART = 1 << 20


class PgStaging:
    """Batches and their files' parts."""

    def __init__(self, db: Database) -> None:
        db.ensure("uploads", _DDL)
        self._db = db

    def new_batch(self) -> str:
        batch = f"job-{uuid.uuid4().hex}"
        with self._db.connection() as conn:
            conn.execute(
                self._db.sql("INSERT INTO {s}.upload_batches VALUES (%s, %s)"), (batch, time.time())
            )
        return batch

    def writer(self, batch: str, name: str) -> _PartWriter:
        return _PartWriter(self._db, batch, name)

    @contextmanager
    def open(self, batch: str) -> Iterator[Path]:
        folder = Path(tempfile.mkdtemp(prefix="upload-"))  # 0700
        try:
            with self._db.connection() as conn:
                parts = conn.execute(
                    self._db.sql(
                        "SELECT name, seq FROM {s}.upload_parts WHERE batch=%s ORDER BY name, seq"
                    ),
                    (batch,),
                ).fetchall()
                handles: dict[str, object] = {}
                for name, seq in parts:
                    row = conn.execute(
                        self._db.sql(
                            "SELECT data FROM {s}.upload_parts WHERE batch=%s AND name=%s "
                            "AND seq=%s"
                        ),
                        (batch, name, seq),
                    ).fetchone()
                    if row is None:  # discarded meanwhile
                        continue
                    mode = "ab" if name in handles else "wb"
                    handles[name] = True
                    with (folder / name).open(mode) as handle:
                        handle.write(row[0])
            yield folder
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def batches(self) -> list[str]:
        with self._db.connection() as conn:
            rows = conn.execute(
                self._db.sql("SELECT batch FROM {s}.upload_batches ORDER BY batch")
            ).fetchall()
        return [r[0] for r in rows]

    def discard(self, batch: str) -> None:
        with self._db.connection() as conn:
            conn.execute(self._db.sql("DELETE FROM {s}.upload_batches WHERE batch=%s"), (batch,))


class _PartWriter:
    """Buffers up to 1 MB, then stores it as the file's next part."""

    def __init__(self, db: Database, batch: str, name: str) -> None:
        self._db, self._batch, self._name = db, batch, name
        self._buffer = bytearray()
        self._seq = 0

    def write(self, data: bytes) -> None:
        self._buffer += data
        while len(self._buffer) >= _PART:
            self._store(bytes(self._buffer[:_PART]))
            del self._buffer[:_PART]

    def _store(self, part: bytes) -> None:
        with self._db.connection() as conn:
            conn.execute(
                self._db.sql("INSERT INTO {s}.upload_parts VALUES (%s, %s, %s, %s)"),
                (self._batch, self._name, self._seq, part),
            )
        self._seq += 1

    def close(self) -> None:
        if self._buffer or self._seq == 0:  # an empty file is one empty part
            self._store(bytes(self._buffer))
        self._buffer.clear()

    def abort(self) -> None:
        self._buffer.clear()
        with self._db.connection() as conn:
            conn.execute(
                self._db.sql("DELETE FROM {s}.upload_parts WHERE batch=%s AND name=%s"),
                (self._batch, self._name),
            )
