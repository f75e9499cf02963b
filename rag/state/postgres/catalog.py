"""The catalog in PostgreSQL: the `Catalog` port, the same protocol as `rag.catalog` on
SQLite (intent in `pending`, the store written, then one transaction makes the version
visible and turns the old one into `garbage`), in tables shared by every knowledge base
and keyed by `kb`. Each write transaction holds the knowledge base's lock
(`Database.transaction(kb=...)`); reads never wait.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from rag.catalog import CatalogSnapshot, DocRecord, DocWrite, abandoned
from rag.config import LexicalConfig
from rag.faults import crash_point
from rag.lexical.bm25 import LexicalRow
from rag.state.postgres.bm25 import LEXICAL_DDL, PACK_AT, PgBM25

if TYPE_CHECKING:
    import psycopg

    from rag.postgres import Database

__all__ = ["CATALOG_DDL", "PgCatalog"]

CATALOG_DDL = (
    """
CREATE TABLE IF NOT EXISTS {s}.documents (
    kb text NOT NULL, doc_id text NOT NULL, source text NOT NULL, file text,
    version text NOT NULL, n_chunks integer NOT NULL, title text NOT NULL DEFAULT '',
    ingested_at double precision NOT NULL, PRIMARY KEY (kb, doc_id));
CREATE INDEX IF NOT EXISTS documents_file ON {s}.documents (kb, file);
CREATE TABLE IF NOT EXISTS {s}.chunks (
    kb text NOT NULL, chunk_id text NOT NULL, doc_id text NOT NULL, PRIMARY KEY (kb, chunk_id));
CREATE INDEX IF NOT EXISTS chunks_doc ON {s}.chunks (kb, doc_id);
CREATE TABLE IF NOT EXISTS {s}.summaries (
    kb text NOT NULL, summary_id text NOT NULL, doc_id text NOT NULL,
    PRIMARY KEY (kb, summary_id), UNIQUE (kb, doc_id));
CREATE TABLE IF NOT EXISTS {s}.pending (
    kb text NOT NULL, doc_id text NOT NULL, version text NOT NULL, chunk_ids jsonb NOT NULL,
    begun_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (kb, doc_id, version));
CREATE TABLE IF NOT EXISTS {s}.garbage (
    kb text NOT NULL, chunk_id text NOT NULL, PRIMARY KEY (kb, chunk_id));
CREATE TABLE IF NOT EXISTS {s}.file_state (
    kb text NOT NULL, file text NOT NULL, sha256 text NOT NULL, size bigint NOT NULL,
    mtime_ns bigint NOT NULL, PRIMARY KEY (kb, file));
CREATE TABLE IF NOT EXISTS {s}.failures (
    kb text NOT NULL, file text NOT NULL, sha256 text NOT NULL, reasons jsonb NOT NULL,
    failed_at double precision NOT NULL, PRIMARY KEY (kb, file));
"""
    + LEXICAL_DDL
)

_TABLES = ("documents", "chunks", "summaries", "pending", "garbage", "file_state", "failures")
_RECORD = "doc_id, source, file, version, n_chunks, title"


class PgCatalog:
    """Knowledge base `kb`'s documents, their visibility and their BM25 postings."""

    def __init__(
        self, db: Database, kb: str, lexical: LexicalConfig, pack_at: int = PACK_AT
    ) -> None:
        db.ensure("catalog", CATALOG_DDL)
        self._db, self._kb = db, kb
        self.database = db  # `rag.postgres.InDatabase`: a pgvector store here writes with it
        self.bm25 = PgBM25(db, kb, 0, lexical, pack_at)
        self.summary_bm25 = PgBM25(db, kb, 1, lexical, pack_at)

    def close(self) -> None:
        """Nothing to release: the connections are the process's pool."""

    def _one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        with self._db.connection() as conn:
            return conn.execute(self._db.sql(sql), (self._kb, *params)).fetchone()

    def _all(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._db.connection() as conn:
            return conn.execute(self._db.sql(sql), (self._kb, *params)).fetchall()

    # -- reads -----------------------------------------------------------------------------

    def get(self, doc_id: str) -> DocRecord | None:
        row = self._one(
            f"SELECT {_RECORD} FROM {{s}}.documents WHERE kb=%s AND doc_id=%s", (doc_id,)
        )
        return _record(row) if row else None

    def doc_ids(self, source_prefix: str | None = None) -> set[str]:
        if not source_prefix:
            return {r[0] for r in self._all("SELECT doc_id FROM {s}.documents WHERE kb=%s")}
        sql = "SELECT doc_id FROM {s}.documents WHERE kb=%s AND starts_with(source, %s)"
        return {r[0] for r in self._all(sql, (source_prefix,))}

    def documents(self, file: str | None = None) -> list[DocRecord]:
        sql = f"SELECT {_RECORD} FROM {{s}}.documents WHERE kb=%s"
        order = ' ORDER BY source COLLATE "C"'
        if file:
            return [_record(r) for r in self._all(sql + " AND file=%s" + order, (file,))]
        return [_record(r) for r in self._all(sql + order)]

    def visible(self, chunk_ids: Iterable[str]) -> set[str]:
        sql = "SELECT chunk_id FROM {s}.chunks WHERE kb=%s AND chunk_id = ANY(%s)"
        return {r[0] for r in self._all(sql, (list(set(chunk_ids)),))}

    def visible_summaries(self, summary_ids: Iterable[str]) -> set[str]:
        sql = "SELECT summary_id FROM {s}.summaries WHERE kb=%s AND summary_id = ANY(%s)"
        return {r[0] for r in self._all(sql, (list(set(summary_ids)),))}

    def chunk_ids(self, doc_id: str) -> list[str]:
        sql = "SELECT chunk_id FROM {s}.chunks WHERE kb=%s AND doc_id=%s"
        return [r[0] for r in self._all(sql, (doc_id,))]

    def count_documents(self) -> int:
        row = self._one("SELECT count(*) FROM {s}.documents WHERE kb=%s")
        return int(row[0]) if row else 0

    def count_chunks(self) -> int:
        row = self._one("SELECT count(*) FROM {s}.chunks WHERE kb=%s")
        return int(row[0]) if row else 0

    def leftovers(self) -> tuple[list[str], list[str]]:
        with self._db.snapshot() as conn:
            return self._pending_ids(conn), self._garbage(conn)

    def invisible_ids(self) -> list[str]:
        pending, garbage = self.leftovers()
        return garbage + pending

    def file_state(self, file: str) -> tuple[str, int, int] | None:
        sql = "SELECT sha256, size, mtime_ns FROM {s}.file_state WHERE kb=%s AND file=%s"
        row = self._one(sql, (file,))
        return (str(row[0]), int(row[1]), int(row[2])) if row else None

    def file_states(self) -> dict[str, str]:
        return dict(self._all("SELECT file, sha256 FROM {s}.file_state WHERE kb=%s"))

    def failure(self, file: str) -> tuple[str, list[tuple[str, str]]] | None:
        row = self._one("SELECT sha256, reasons FROM {s}.failures WHERE kb=%s AND file=%s", (file,))
        return (str(row[0]), [(a, b) for a, b in row[1]]) if row else None

    def failures(self) -> dict[str, tuple[str, list[tuple[str, str]]]]:
        """Every remembered failure: file -> (sha256, [(source, reason)])."""
        rows = self._all("SELECT file, sha256, reasons FROM {s}.failures WHERE kb=%s")
        return {f: (sha, [(a, b) for a, b in reasons]) for f, sha, reasons in rows}

    def file_rows(self) -> list[tuple[str, str, int, int]]:
        """Every file state: (file, sha256, size, mtime_ns)."""
        return [
            (str(f), str(sha), int(size), int(mtime))
            for f, sha, size, mtime in self._all(
                "SELECT file, sha256, size, mtime_ns FROM {s}.file_state WHERE kb=%s"
            )
        ]

    def snapshot(self) -> CatalogSnapshot:
        kb, sql = self._kb, self._db.sql
        with self._db.snapshot() as conn:

            def ids(query: str) -> frozenset[str]:
                return frozenset(r[0] for r in conn.execute(sql(query), (kb,)))

            chunks = dict(
                conn.execute(sql("SELECT chunk_id, doc_id FROM {s}.chunks WHERE kb=%s"), (kb,))
            )
            summaries = dict(
                conn.execute(sql("SELECT summary_id, doc_id FROM {s}.summaries WHERE kb=%s"), (kb,))
            )
            return CatalogSnapshot(
                documents=ids("SELECT doc_id FROM {s}.documents WHERE kb=%s"),
                expects_chunks=ids("SELECT doc_id FROM {s}.documents WHERE kb=%s AND n_chunks > 0"),
                chunks=frozenset(chunks),
                summaries=frozenset(summaries),
                owner={**chunks, **summaries},
                lexical=self.bm25.ids(conn),
                summary_lexical=self.summary_bm25.ids(conn),
                pending=frozenset(self._pending_ids(conn)),
                garbage=frozenset(self._garbage(conn)),
            )

    def _pending_ids(self, conn: psycopg.Connection[Any]) -> list[str]:
        rows = conn.execute(
            self._db.sql("SELECT chunk_ids FROM {s}.pending WHERE kb=%s"), (self._kb,)
        )
        return [i for (ids,) in rows for i in ids]

    def _garbage(self, conn: psycopg.Connection[Any]) -> list[str]:
        rows = conn.execute(
            self._db.sql("SELECT chunk_id FROM {s}.garbage WHERE kb=%s"), (self._kb,)
        )
        return [r[0] for r in rows]

    # -- writes ----------------------------------------------------------------------------

    def add_lexical(self, rows: Sequence[LexicalRow]) -> None:
        with self._db.transaction(self._kb) as conn:
            self.bm25.add(rows, conn)

    def drop_lexical(self, chunk_ids: Collection[str], summary_doc_ids: Collection[str]) -> None:
        with self._db.transaction(self._kb) as conn:
            self.bm25.remove(chunk_ids, conn)
            self.summary_bm25.remove(summary_doc_ids, conn)

    def begin(self, writes: Sequence[DocWrite]) -> None:
        if not writes:
            return
        with self._db.transaction(self._kb) as conn, conn.cursor() as cur:
            cur.executemany(
                self._db.sql(
                    "INSERT INTO {s}.pending VALUES (%s, %s, %s, %s) ON CONFLICT (kb, doc_id, "
                    "version) DO UPDATE SET chunk_ids = EXCLUDED.chunk_ids, begun_at = now()"
                ),
                [
                    (self._kb, w.record.doc_id, w.record.version, json.dumps(w.store_ids))
                    for w in writes
                ],
            )

    def commit(self, writes: Sequence[DocWrite]) -> None:
        with self._db.transaction(self._kb) as conn:
            for write in writes:
                self._commit_one(conn, write)
            crash_point("after_lexical")

    def _commit_one(self, conn: psycopg.Connection[Any], write: DocWrite) -> None:
        record, kb, sql = write.record, self._kb, self._db.sql
        intent = conn.execute(
            sql("DELETE FROM {s}.pending WHERE kb=%s AND doc_id=%s AND version=%s"),
            (kb, record.doc_id, record.version),
        )
        if intent.rowcount == 0:
            current = conn.execute(
                sql(f"SELECT {_RECORD} FROM {{s}}.documents WHERE kb=%s AND doc_id=%s"),
                (kb, record.doc_id),
            ).fetchone()
            abandoned(record, _record(current) if current else None)
            return
        self._hide(conn, record.doc_id, keep=set(write.store_ids))
        conn.execute(
            sql(
                "INSERT INTO {s}.chunks SELECT %s, c, %s FROM unnest(%s::text[]) AS c "
                "ON CONFLICT (kb, chunk_id) DO UPDATE SET doc_id = EXCLUDED.doc_id"
            ),
            (kb, record.doc_id, list(write.chunk_ids)),
        )
        conn.execute(
            sql(
                "INSERT INTO {s}.documents VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (kb, doc_id) DO UPDATE SET source = EXCLUDED.source, "
                "file = EXCLUDED.file, version = EXCLUDED.version, n_chunks = EXCLUDED.n_chunks, "
                "title = EXCLUDED.title, ingested_at = EXCLUDED.ingested_at"
            ),
            (
                kb,
                record.doc_id,
                record.source,
                record.file,
                record.version,
                record.n_chunks,
                record.title,
                time.time(),
            ),
        )
        self.bm25.add(write.lexical, conn)
        if write.summary_id is not None:
            conn.execute(
                sql("INSERT INTO {s}.summaries VALUES (%s, %s, %s)"),
                (kb, write.summary_id, record.doc_id),
            )
            # One summary per document: its BM25 row is keyed by the document id.
            self.summary_bm25.add(
                [LexicalRow(record.doc_id, record.doc_id, write.summary_terms)], conn
            )

    def remove(self, doc_id: str) -> bool:
        with self._db.transaction(self._kb) as conn:
            return self._hide(conn, doc_id, keep=set())

    def _hide(self, conn: psycopg.Connection[Any], doc_id: str, keep: set[str]) -> bool:
        kb, sql = self._kb, self._db.sql
        chunks = [
            r[0]
            for r in conn.execute(
                sql("DELETE FROM {s}.chunks WHERE kb=%s AND doc_id=%s RETURNING chunk_id"),
                (kb, doc_id),
            )
        ]
        summaries = [
            r[0]
            for r in conn.execute(
                sql("DELETE FROM {s}.summaries WHERE kb=%s AND doc_id=%s RETURNING summary_id"),
                (kb, doc_id),
            )
        ]
        stale = [i for i in chunks if i not in keep]
        gone = stale + [i for i in summaries if i not in keep]
        conn.execute(
            sql(
                "INSERT INTO {s}.garbage SELECT %s, g FROM unnest(%s::text[]) AS g "
                "ON CONFLICT DO NOTHING"
            ),
            (kb, gone),
        )
        self.bm25.remove(stale, conn)
        self.summary_bm25.remove([doc_id], conn)
        deleted = conn.execute(
            sql("DELETE FROM {s}.documents WHERE kb=%s AND doc_id=%s"), (kb, doc_id)
        )
        return deleted.rowcount > 0

    def collect(self, delete: Callable[[list[str]], None], stale_s: float = 0.0) -> list[str]:
        sql, kb = self._db.sql, self._kb
        with self._db.transaction(kb) as conn:
            for (ids,) in conn.execute(
                sql(
                    "DELETE FROM {s}.pending WHERE kb=%s AND begun_at <= now() - "
                    "make_interval(secs => %s) RETURNING chunk_ids"
                ),
                (kb, stale_s),
            ).fetchall():
                conn.execute(
                    sql(
                        "INSERT INTO {s}.garbage SELECT %s, g FROM unnest(%s::text[]) AS g "
                        "ON CONFLICT DO NOTHING"
                    ),
                    (kb, ids),
                )
            # Every garbage row goes; deleted from the stores are those neither visible
            # (the same content written again) nor intended by a write still going on.
            rows = conn.execute(
                sql(
                    "DELETE FROM {s}.garbage g WHERE g.kb=%s RETURNING g.chunk_id, ("
                    "EXISTS (SELECT 1 FROM {s}.chunks c WHERE c.kb=g.kb AND c.chunk_id=g.chunk_id)"
                    " OR EXISTS (SELECT 1 FROM {s}.summaries m WHERE m.kb=g.kb "
                    "AND m.summary_id=g.chunk_id) OR EXISTS (SELECT 1 FROM {s}.pending p "
                    "WHERE p.kb=g.kb AND p.chunk_ids ? g.chunk_id))"
                ),
                (kb,),
            ).fetchall()
            gone = [chunk_id for chunk_id, kept in rows if not kept]
            if gone:
                delete(gone)  # holding the knowledge base's lock: no write begins meanwhile
        return gone

    def set_file_state(self, file: str, sha256: str, size: int, mtime_ns: int) -> None:
        with self._db.transaction() as conn:
            conn.execute(
                self._db.sql(
                    "INSERT INTO {s}.file_state VALUES (%s, %s, %s, %s, %s) ON CONFLICT (kb, "
                    "file) DO UPDATE SET sha256 = EXCLUDED.sha256, size = EXCLUDED.size, "
                    "mtime_ns = EXCLUDED.mtime_ns"
                ),
                (self._kb, file, sha256, size, mtime_ns),
            )
            conn.execute(
                self._db.sql("DELETE FROM {s}.failures WHERE kb=%s AND file=%s"), (self._kb, file)
            )

    def remember_failure(self, file: str, sha256: str, reasons: Sequence[tuple[str, str]]) -> None:
        with self._db.connection() as conn:
            conn.execute(
                self._db.sql(
                    "INSERT INTO {s}.failures VALUES (%s, %s, %s, %s, %s) ON CONFLICT (kb, file) "
                    "DO UPDATE SET sha256 = EXCLUDED.sha256, reasons = EXCLUDED.reasons, "
                    "failed_at = EXCLUDED.failed_at"
                ),
                (self._kb, file, sha256, json.dumps([list(r) for r in reasons]), time.time()),
            )

    def forget_file(self, file: str) -> None:
        with self._db.transaction() as conn:
            for table in ("file_state", "failures"):
                conn.execute(
                    self._db.sql(f"DELETE FROM {{s}}.{table} WHERE kb=%s AND file=%s"),
                    (self._kb, file),
                )

    def drop(self) -> None:
        """Remove everything this knowledge base holds (idempotent)."""
        with self._db.transaction(self._kb) as conn:
            for table in _TABLES:
                conn.execute(self._db.sql(f"DELETE FROM {{s}}.{table} WHERE kb=%s"), (self._kb,))
            self.bm25.clear(conn)
            self.summary_bm25.clear(conn)


def _record(row: tuple[Any, ...]) -> DocRecord:
    return DocRecord(row[0], row[1], row[2], row[3], int(row[4]), row[5])
