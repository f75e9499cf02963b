"""The record of sources in PostgreSQL (the `SourceLog` port): one row per entry, in the
order written, so every worker of the deployment appends to the same record; a rebuild on
any host reads it whole."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from rag.sources import AppendedLog, Sources

if TYPE_CHECKING:
    from rag.postgres import Database

__all__ = ["PgSourceLog"]

_DDL = """
CREATE TABLE IF NOT EXISTS {s}.source_logs (kb text PRIMARY KEY);
CREATE TABLE IF NOT EXISTS {s}.source_entries (
    kb text NOT NULL, seq bigint GENERATED ALWAYS AS IDENTITY, entry jsonb NOT NULL,
    PRIMARY KEY (kb, seq));
"""


class PgSourceLog(AppendedLog):
    """Knowledge base `kb`'s record of sources."""

    def __init__(self, db: Database, kb: str) -> None:
        db.ensure("sources", _DDL)
        self._db, self._kb = db, kb

    @property
    def where(self) -> str:
        return f"{self._db.url} (schema {self._db.namespace}, knowledge base {self._kb})"

    def exists(self) -> bool:
        with self._db.connection() as conn:
            found = conn.execute(
                self._db.sql("SELECT 1 FROM {s}.source_logs WHERE kb=%s"), (self._kb,)
            ).fetchone()
        return found is not None

    def read(self) -> Sources:
        held = Sources()
        with self._db.connection() as conn:
            rows = conn.execute(
                self._db.sql("SELECT entry FROM {s}.source_entries WHERE kb=%s ORDER BY seq"),
                (self._kb,),
            ).fetchall()
        for (entry,) in rows:
            held.lines += 1
            try:
                held.apply(entry)
            except (ValueError, KeyError):
                held.torn += 1
        return held

    def rewrite(self, held: Sources) -> None:
        with self._db.transaction() as conn:
            conn.execute(self._db.sql("DELETE FROM {s}.source_entries WHERE kb=%s"), (self._kb,))
            self._insert(conn, held.entries())

    def remove(self) -> None:
        with self._db.transaction() as conn:
            for table in ("source_entries", "source_logs"):
                conn.execute(self._db.sql(f"DELETE FROM {{s}}.{table} WHERE kb=%s"), (self._kb,))

    def _append(self, entries: list[dict[str, object]]) -> None:
        if entries:
            with self._db.transaction() as conn:
                self._insert(conn, entries)

    def _insert(self, conn: Any, entries: list[dict[str, object]]) -> None:
        conn.execute(
            self._db.sql("INSERT INTO {s}.source_logs VALUES (%s) ON CONFLICT DO NOTHING"),
            (self._kb,),
        )
        with conn.cursor() as cur:
            cur.executemany(
                self._db.sql("INSERT INTO {s}.source_entries (kb, entry) VALUES (%s, %s)"),
                [(self._kb, json.dumps(e, ensure_ascii=False)) for e in entries],
            )
