"""The document catalog: which version of each document is visible, kept in SQLite.

Vector stores have no multi-record transactions (Chroma batches, Milvus never), so visibility
is decided here, in one SQLite transaction per document:

1. `begin`: record the intent (doc, new version, its chunk ids) in `pending`;
2. the caller upserts the chunks into the store (invisible: their version is not current);
3. `commit`: in one transaction make the new version current, drop the intent, and move the
   old version's chunk ids to `garbage`;
4. `collect`: the store's `garbage` ids (and those of intents older than a grace) are deleted
   from the store, holding the write lock, never an id visible or intended by a live write.

Each document also has one summary (the two-level index), stored in a second collection and
made visible or hidden with its chunks. The BM25 indexes of the visible chunks and summaries
live in the same database (`rag.lexical.bm25`) and change in the same transactions as
visibility, so they never hold a hidden chunk. Store ids in `pending` and `garbage` may belong
to either collection; the index deletes them from both.

A process killed anywhere leaves either the old version or the new one visible, never a mix;
`pending` and `garbage` tell the next writer exactly which store ids to remove.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rag.config import LexicalConfig
from rag.errors import StoreError
from rag.faults import crash_point
from rag.lexical.bm25 import BM25Tables, LexicalRow
from rag.sqlite import Connections

__all__ = ["CatalogSnapshot", "DocRecord", "DocWrite", "SqliteCatalog", "abandoned"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    doc_id TEXT PRIMARY KEY, source TEXT NOT NULL, file TEXT, version TEXT NOT NULL,
    n_chunks INTEGER NOT NULL, title TEXT NOT NULL DEFAULT '', ingested_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS documents_file ON documents(file);
CREATE TABLE IF NOT EXISTS chunks (chunk_id TEXT PRIMARY KEY, doc_id TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS chunks_doc ON chunks(doc_id);
CREATE TABLE IF NOT EXISTS summaries (summary_id TEXT PRIMARY KEY, doc_id TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS pending (
    doc_id TEXT NOT NULL, version TEXT NOT NULL, chunk_ids TEXT NOT NULL,
    begun_at REAL NOT NULL DEFAULT 0, PRIMARY KEY (doc_id, version)
);
CREATE TABLE IF NOT EXISTS garbage (chunk_id TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS file_state (
    file TEXT PRIMARY KEY, sha256 TEXT NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS failures (
    file TEXT PRIMARY KEY, sha256 TEXT NOT NULL, reasons TEXT NOT NULL, failed_at REAL NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class DocRecord:
    """A visible document."""

    doc_id: str
    source: str
    file: str | None
    version: str
    n_chunks: int
    title: str = ""


@dataclass(frozen=True, slots=True)
class DocWrite:
    """A new document version: its record, chunk ids, and the BM25 rows of its chunks and
    of its summary."""

    record: DocRecord
    chunk_ids: Sequence[str]
    lexical: Sequence[LexicalRow]
    summary_id: str | None = None
    summary_terms: Sequence[str] = ()

    @property
    def store_ids(self) -> list[str]:
        """Every id this write puts in the stores."""
        return [*self.chunk_ids, *([self.summary_id] if self.summary_id else [])]


@dataclass(frozen=True, slots=True)
class CatalogSnapshot:
    """Every id the catalog knows, read in one transaction (for `rag.doctor`)."""

    documents: frozenset[str]
    expects_chunks: frozenset[str]  # documents recorded with at least one chunk
    chunks: frozenset[str]  # visible chunk ids
    summaries: frozenset[str]  # visible summary ids
    owner: dict[str, str]  # chunk or summary id -> its document
    lexical: frozenset[str]  # chunk ids with a BM25 row
    summary_lexical: frozenset[str]  # document ids with a summary BM25 row
    pending: frozenset[str]
    garbage: frozenset[str]

    @property
    def owners(self) -> frozenset[str]:
        """Documents that have chunk rows."""
        return frozenset(self.owner[i] for i in self.chunks)


class SqliteCatalog:
    """SQLite file `catalog.sqlite` next to the index: the embedded `rag.state.base.Catalog`."""

    def __init__(self, path: Path | None, lexical: LexicalConfig) -> None:
        """`path` None: an in-memory catalog (of an index that holds nothing yet)."""
        # Readers search from many threads (a web server's pool, LangChain's branches): each
        # thread reads through its own connection; writes go through the one writer's.
        self._connections = Connections(path)
        self._db = self._connections.write
        self._read = self._connections.read
        try:
            self._db.executescript(_SCHEMA)
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(pending)")}
            if "begun_at" not in columns:  # a catalog of an earlier release
                self._db.execute("ALTER TABLE pending ADD COLUMN begun_at REAL NOT NULL DEFAULT 0")
        except sqlite3.DatabaseError:  # "file is not a database": the caller says what to do
            self._connections.close()
            raise
        self.bm25 = BM25Tables(self._db, "lex_chunks", lexical, self._read)
        self.summary_bm25 = BM25Tables(self._db, "lex_summaries", lexical, self._read)

    def close(self) -> None:
        """Close the database (every thread's connection)."""
        self._connections.close()

    # -- reads ---------------------------------------------------------------------------

    def get(self, doc_id: str) -> DocRecord | None:
        """The visible version of `doc_id`, if any."""
        sql = "SELECT doc_id, source, file, version, n_chunks, title FROM documents WHERE doc_id=?"
        row = self._read().execute(sql, (doc_id,)).fetchone()
        return _record(row) if row else None

    def doc_ids(self, source_prefix: str | None = None) -> set[str]:
        """The ids of visible documents (whose source starts with `source_prefix`)."""
        if not source_prefix:
            rows = self._read().execute("SELECT doc_id FROM documents")
        else:
            sql = "SELECT doc_id FROM documents WHERE substr(source, 1, ?) = ?"
            rows = self._read().execute(sql, (len(source_prefix), source_prefix))
        return {row[0] for row in rows}

    def documents(self, file: str | None = None) -> list[DocRecord]:
        """Every visible document, or those that came from `file`."""
        sql = "SELECT doc_id, source, file, version, n_chunks, title FROM documents"
        rows = (
            self._read()
            .execute(
                sql + (" WHERE file=? ORDER BY source" if file else " ORDER BY source"),
                (file,) if file else (),
            )
            .fetchall()
        )
        return [_record(r) for r in rows]

    def visible(self, chunk_ids: Iterable[str]) -> set[str]:
        """The subset of `chunk_ids` that belong to a visible document version."""
        return self._present("chunks", "chunk_id", chunk_ids)

    def visible_summaries(self, summary_ids: Iterable[str]) -> set[str]:
        """The subset of `summary_ids` that are the summary of a visible document version."""
        return self._present("summaries", "summary_id", summary_ids)

    def _present(self, table: str, column: str, wanted: Iterable[str]) -> set[str]:
        ids = list(set(wanted))
        out: set[str] = set()
        for start in range(0, len(ids), 500):
            part = ids[start : start + 500]
            marks = ",".join("?" * len(part))
            rows = self._read().execute(
                f"SELECT {column} FROM {table} WHERE {column} IN ({marks})", part
            )
            out.update(r[0] for r in rows)
        return out

    def chunk_ids(self, doc_id: str) -> list[str]:
        """The chunk ids of the visible version of `doc_id`."""
        return _chunk_ids(self._read(), doc_id)

    def count_documents(self) -> int:
        """Number of visible documents."""
        return int(self._read().execute("SELECT COUNT(*) FROM documents").fetchone()[0])

    def count_chunks(self) -> int:
        """Number of visible chunks."""
        return int(self._read().execute("SELECT COUNT(*) FROM chunks").fetchone()[0])

    def leftovers(self) -> tuple[list[str], list[str]]:
        """(ids of interrupted writes, ids waiting for deletion)."""
        db = self._read()
        garbage = [r[0] for r in db.execute("SELECT chunk_id FROM garbage")]
        return _pending_ids(db), garbage

    def invisible_ids(self) -> list[str]:
        """Store ids that may exist but must not be shown (interrupted writes, old versions)."""
        pending, garbage = self.leftovers()
        return garbage + pending

    def file_state(self, file: str) -> tuple[str, int, int] | None:
        """(sha256, size, mtime_ns) recorded when `file` was last ingested."""
        row = (
            self._read()
            .execute("SELECT sha256, size, mtime_ns FROM file_state WHERE file=?", (file,))
            .fetchone()
        )
        return (str(row[0]), int(row[1]), int(row[2])) if row else None

    def file_states(self) -> dict[str, str]:
        """Every file recorded as ingested: catalog key -> sha256."""
        rows = self._read().execute("SELECT file, sha256 FROM file_state")
        return {str(file): str(sha) for file, sha in rows}

    def file_rows(self) -> list[tuple[str, str, int, int]]:
        """Every file state: (file, sha256, size, mtime_ns)."""
        rows = self._read().execute("SELECT file, sha256, size, mtime_ns FROM file_state")
        return [(str(f), str(sha), int(size), int(mtime)) for f, sha, size, mtime in rows]

    def failures(self) -> dict[str, tuple[str, list[tuple[str, str]]]]:
        """Every remembered failure: file -> (sha256, [(source, reason)])."""
        rows = self._read().execute("SELECT file, sha256, reasons FROM failures")
        return {f: (sha, [(a, b) for a, b in json.loads(raw)]) for f, sha, raw in rows}

    def failure(self, file: str) -> tuple[str, list[tuple[str, str]]] | None:
        """(sha256, [(source, reason)]) of the content `file` last failed at, if it did."""
        sql = "SELECT sha256, reasons FROM failures WHERE file=?"
        row = self._read().execute(sql, (file,)).fetchone()
        return (str(row[0]), [(a, b) for a, b in json.loads(row[1])]) if row else None

    def snapshot(self) -> CatalogSnapshot:
        """Every id in every table, consistent with each other."""
        db = self._read()
        db.execute("BEGIN")
        try:

            def ids(sql: str) -> frozenset[str]:
                return frozenset(r[0] for r in db.execute(sql))

            chunks = dict(db.execute("SELECT chunk_id, doc_id FROM chunks").fetchall())
            summaries = dict(db.execute("SELECT summary_id, doc_id FROM summaries").fetchall())
            pending = frozenset(_pending_ids(db))
            return CatalogSnapshot(
                documents=ids("SELECT doc_id FROM documents"),
                expects_chunks=ids("SELECT doc_id FROM documents WHERE n_chunks > 0"),
                chunks=frozenset(chunks),
                summaries=frozenset(summaries),
                owner={**chunks, **summaries},
                lexical=ids(f"SELECT chunk_id FROM {self.bm25.table}_docs"),
                summary_lexical=ids(f"SELECT chunk_id FROM {self.summary_bm25.table}_docs"),
                pending=pending,
                garbage=ids("SELECT chunk_id FROM garbage"),
            )
        finally:
            db.execute("COMMIT")

    # -- writes --------------------------------------------------------------------------

    def add_lexical(self, rows: Sequence[LexicalRow]) -> None:
        """Index chunks in BM25 that lack their rows (a repair)."""
        with _transaction(self._db):
            self.bm25.add(rows)

    def drop_lexical(self, chunk_ids: Collection[str], summary_doc_ids: Collection[str]) -> None:
        """Remove BM25 rows that belong to no visible chunk or summary (a repair)."""
        with _transaction(self._db):
            self.bm25.remove(chunk_ids)
            self.summary_bm25.remove(summary_doc_ids)

    def begin(self, writes: Sequence[DocWrite]) -> None:
        """Record the intent to write these documents' store ids (one transaction)."""
        with _transaction(self._db):
            now = time.time()
            self._db.executemany(
                "INSERT OR REPLACE INTO pending VALUES (?, ?, ?, ?)",
                [(w.record.doc_id, w.record.version, json.dumps(w.store_ids), now) for w in writes],
            )

    def commit(self, writes: Sequence[DocWrite]) -> None:
        """Make these versions visible, all in one transaction; each document's replaced
        chunk and summary ids become garbage."""
        with _transaction(self._db):
            for write in writes:
                self._commit_one(write)
            crash_point("after_lexical")

    def _commit_one(self, write: DocWrite) -> None:
        record = write.record
        intent = self._db.execute(
            "DELETE FROM pending WHERE doc_id=? AND version=?", (record.doc_id, record.version)
        )
        if intent.rowcount == 0:
            abandoned(record, self.get(record.doc_id))
            return
        self._hide(record.doc_id, keep=set(write.store_ids))
        self._db.executemany(
            "INSERT OR REPLACE INTO chunks VALUES (?, ?)",
            [(i, record.doc_id) for i in write.chunk_ids],
        )
        self._db.execute(
            "INSERT OR REPLACE INTO documents VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                record.doc_id,
                record.source,
                record.file,
                record.version,
                record.n_chunks,
                record.title,
                time.time(),
            ),
        )
        self.bm25.add(write.lexical)
        if write.summary_id is not None:
            self._db.execute(
                "INSERT INTO summaries VALUES (?, ?)", (write.summary_id, record.doc_id)
            )
            # One summary per document: its BM25 row is keyed by the document id.
            self.summary_bm25.add([LexicalRow(record.doc_id, record.doc_id, write.summary_terms)])

    def remove(self, doc_id: str) -> bool:
        """Hide `doc_id` now; its chunk ids become garbage. False when it was not there."""
        with _transaction(self._db):
            return self._hide(doc_id, keep=set())

    def _hide(self, doc_id: str, keep: set[str]) -> bool:
        stale = [i for i in _chunk_ids(self._db, doc_id) if i not in keep]
        summaries = [
            r[0]
            for r in self._db.execute("SELECT summary_id FROM summaries WHERE doc_id=?", (doc_id,))
        ]
        gone = stale + [i for i in summaries if i not in keep]
        self._db.executemany("INSERT OR IGNORE INTO garbage VALUES (?)", [(i,) for i in gone])
        self.bm25.remove(stale)
        self.summary_bm25.remove([doc_id])
        self._db.execute("DELETE FROM summaries WHERE doc_id=?", (doc_id,))
        self._db.execute("DELETE FROM chunks WHERE doc_id=?", (doc_id,))
        return self._db.execute("DELETE FROM documents WHERE doc_id=?", (doc_id,)).rowcount > 0

    def collect(self, delete: Callable[[list[str]], None], stale_s: float = 0.0) -> list[str]:
        """Remove what interrupted writes (intents older than `stale_s`) and replaced
        versions left in the stores: `delete(ids)` runs while this holds the write lock, so
        no write begins or commits meanwhile. Never an id that is visible or that a live
        write intends. Returns the ids removed."""
        with _transaction(self._db):
            cutoff = time.time() - stale_s
            stale = self._db.execute(
                "SELECT chunk_ids FROM pending WHERE begun_at <= ?", (cutoff,)
            ).fetchall()
            for (raw,) in stale:
                self._db.executemany(
                    "INSERT OR IGNORE INTO garbage VALUES (?)", [(i,) for i in json.loads(raw)]
                )
            self._db.execute("DELETE FROM pending WHERE begun_at <= ?", (cutoff,))
            ids = [r[0] for r in self._db.execute("SELECT chunk_id FROM garbage")]
            if not ids:
                return []
            # An id can be garbage and part of a visible version (the same content written
            # again), or of a write still going on: never delete those.
            keep = self.visible(ids) | self.visible_summaries(ids) | set(_pending_ids(self._db))
            gone = [i for i in ids if i not in keep]
            if gone:
                delete(gone)
            # Every one leaves `garbage`: deleted now, visible, or (a live write's) taken
            # again with its intent if that write never commits.
            self._db.executemany("DELETE FROM garbage WHERE chunk_id=?", [(i,) for i in ids])
            return gone

    def set_file_state(self, file: str, sha256: str, size: int, mtime_ns: int) -> None:
        """Remember a file's content hash so an unchanged file is skipped without hashing
        (and forget that it failed before)."""
        with _transaction(self._db):
            self._db.execute(
                "INSERT OR REPLACE INTO file_state VALUES (?, ?, ?, ?)",
                (file, sha256, size, mtime_ns),
            )
            self._db.execute("DELETE FROM failures WHERE file=?", (file,))

    def remember_failure(self, file: str, sha256: str, reasons: Sequence[tuple[str, str]]) -> None:
        """Remember that `file` failed at this content, with each failed part's reason."""
        self._db.execute(
            "INSERT OR REPLACE INTO failures VALUES (?, ?, ?, ?)",
            (file, sha256, json.dumps(list(reasons)), time.time()),
        )

    def forget_file(self, file: str) -> None:
        """Drop the remembered state (and failure) of a file."""
        with _transaction(self._db):
            self._db.execute("DELETE FROM file_state WHERE file=?", (file,))
            self._db.execute("DELETE FROM failures WHERE file=?", (file,))


class _transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self._db.execute("COMMIT" if exc_type is None else "ROLLBACK")


def abandoned(record: DocRecord, current: DocRecord | None) -> None:
    """A commit whose intent is gone: fine when this version is already visible (another
    worker wrote the same document); else its intent was collected as stalled.

    Raises:
        StoreError: The write was abandoned; nothing of it is visible.
    """
    if current is not None and current.version == record.version:
        return
    raise StoreError(
        f"the write of document {record.doc_id} (version {record.version[:12]}) was taken "
        "for stalled and cleaned up before it committed; nothing of it is visible. Ingest it "
        "again (a retried job does)"
    )


def _chunk_ids(db: sqlite3.Connection, doc_id: str) -> list[str]:
    return [r[0] for r in db.execute("SELECT chunk_id FROM chunks WHERE doc_id=?", (doc_id,))]


def _record(row: tuple[str, str, str | None, str, int, str]) -> DocRecord:
    return DocRecord(row[0], row[1], row[2], row[3], int(row[4]), row[5])


def _pending_ids(db: sqlite3.Connection) -> list[str]:
    """The store ids of every interrupted write (the `pending` table)."""
    return [i for (raw,) in db.execute("SELECT chunk_ids FROM pending") for i in json.loads(raw)]
