"""The manifest in PostgreSQL: one row, each change a read-modify-write under `FOR UPDATE`
(the `KbRegistry` port)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING

from rag.errors import StoreError
from rag.manifest import Manifest
from rag.state.registry import ManifestRegistry

if TYPE_CHECKING:
    from rag.postgres import Database

__all__ = ["PgRegistry"]

_DDL = """
CREATE TABLE IF NOT EXISTS {s}.manifest (
    one integer PRIMARY KEY CHECK (one = 1), body jsonb NOT NULL);
"""


class PgRegistry(ManifestRegistry):
    """The deployment's manifest and knowledge bases."""

    def __init__(self, db: Database) -> None:
        db.ensure("manifest", _DDL)
        self._db = db
        self._where = db.url

    def read(self) -> Manifest | None:
        with self._db.connection() as conn:
            row = conn.execute(self._db.sql("SELECT body FROM {s}.manifest")).fetchone()
        return self._parse(row[0]) if row else None

    def _parse(self, body: object) -> Manifest:
        try:
            return Manifest.from_dict(body)  # type: ignore[arg-type]
        except (ValueError, KeyError, TypeError) as exc:
            raise StoreError(
                f"the manifest in {self._db.url} (schema {self._db.namespace}) is unreadable "
                f"({exc}); drop the schema and ingest again"
            ) from exc

    def _change(self, change: Callable[[Manifest | None], Manifest | None]) -> Manifest | None:
        sql = self._db.sql
        with self._db.transaction() as conn:
            # The row may not exist yet: the lock of the table's first row is not enough.
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_REGISTRY_LOCK,))
            row = conn.execute(sql("SELECT body FROM {s}.manifest FOR UPDATE")).fetchone()
            current = self._parse(row[0]) if row else None
            changed = change(current)
            if changed is not None and changed != current:
                conn.execute(
                    sql(
                        "INSERT INTO {s}.manifest VALUES (1, %s) ON CONFLICT (one) "
                        "DO UPDATE SET body = EXCLUDED.body"
                    ),
                    (json.dumps(changed.to_dict(), ensure_ascii=False),),
                )
            return changed


_REGISTRY_LOCK = 0x7261675F6D616E  # "rag_man"
