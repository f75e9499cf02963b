"""The job store on SQLite (`<data_dir>/jobs.sqlite`): the embedded `JobStore`.

A claim is one `UPDATE ... RETURNING` in one transaction: the oldest queued job, or a
running one whose lease ran out (its worker stopped heartbeating), becomes the caller's
with a new lease and one more attempt. A worker that lost its job (another claimed it after
its lease ran out) finds out at its next heartbeat or when it finishes: both answer False.

Example:
    >>> store = SqliteJobStore(Path(".rag/jobs.sqlite"))  # doctest: +SKIP
    >>> store.enqueue(JobRecord("j1", "default", "ingest", "queued", time.time()))  # doctest: +SKIP
    >>> claimed = store.claim("worker-1", lease_s=60, now=time.time())  # doctest: +SKIP
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from rag.state.base import ClaimedJob, JobRecord

__all__ = ["SqliteJobStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY, kb TEXT NOT NULL, kind TEXT NOT NULL, state TEXT NOT NULL,
    created_at REAL NOT NULL, finished_at REAL, error TEXT, results TEXT NOT NULL,
    redo TEXT, temp_dir TEXT
);
"""
# Columns added after the first release: an older jobs.sqlite gets them when opened.
_ADDED = {"attempts": "INTEGER NOT NULL DEFAULT 0", "worker": "TEXT", "lease_until": "REAL"}
# The oldest claimable job (with a job id, that one): queued, or running with its lease run
# out (a running row without a lease is abandoned), or, asked for by id, the worker's own.
_CLAIM_WHERE = (
    "(state = 'queued' OR (state = 'running' AND (COALESCE(lease_until, 0) < ? "
    "OR (worker = ? AND ? IS NOT NULL)))) AND (? IS NULL OR id = ?)"
)
_COLUMNS = (
    "id, kb, kind, state, created_at, finished_at, error, results, redo, temp_dir, attempts, worker"
)
_CLAIM = (
    "UPDATE jobs SET state = 'running', worker = ?, lease_until = ?, attempts = attempts + 1 "
    f"WHERE id = (SELECT id FROM jobs WHERE {_CLAIM_WHERE} ORDER BY created_at, id LIMIT 1) "
    f"RETURNING {_COLUMNS}, lease_until"
)


class SqliteJobStore:
    """Jobs in one SQLite file; safe to call from several threads and processes."""

    def __init__(self, path: Path | None) -> None:
        """`path` None: kept in memory only (a read-only worker, a test)."""
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(
            str(path) if path else ":memory:",
            check_same_thread=False,
            isolation_level=None,
            timeout=30,
        )
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(_SCHEMA)
            have = {row[1] for row in self._db.execute("PRAGMA table_info(jobs)")}
            for column, kind in _ADDED.items():
                if column not in have:
                    self._db.execute(f"ALTER TABLE jobs ADD COLUMN {column} {kind}")

    def enqueue(self, job: JobRecord) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO jobs (id, kb, kind, state, created_at, finished_at, error, "
                "results, redo, temp_dir, attempts, worker) "
                "VALUES (?, ?, ?, 'queued', ?, NULL, NULL, ?, ?, ?, 0, NULL) "
                "ON CONFLICT(id) DO NOTHING",
                (
                    job.id,
                    job.kb,
                    job.kind,
                    job.created_at,
                    json.dumps(list(job.results)),
                    json.dumps(job.redo) if job.redo is not None else None,
                    job.temp_dir,
                ),
            )

    def claim(
        self, worker: str, lease_s: float, now: float, job_id: str | None = None
    ) -> ClaimedJob | None:
        with self._lock:
            row = self._db.execute(
                _CLAIM,
                (worker, now + lease_s, now, worker, job_id, job_id, job_id),
            ).fetchone()
        if row is None:
            return None
        return ClaimedJob(_record(row[:-1]), float(row[-1]))

    def heartbeat(self, job_id: str, worker: str, lease_s: float, now: float) -> bool:
        with self._lock:
            cursor = self._db.execute(
                "UPDATE jobs SET lease_until = ? WHERE id = ? AND worker = ? AND state = 'running'",
                (now + lease_s, job_id, worker),
            )
        return cursor.rowcount == 1

    def progress(self, job_id: str, results: Sequence[dict[str, Any]]) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE jobs SET results = ? WHERE id = ?", (json.dumps(list(results)), job_id)
            )

    def finish(
        self,
        job_id: str,
        worker: str,
        state: Literal["done", "failed"],
        error: str | None,
        results: Sequence[dict[str, Any]],
        now: float,
    ) -> bool:
        with self._lock:
            cursor = self._db.execute(
                "UPDATE jobs SET state = ?, error = ?, results = ?, finished_at = ?, "
                "lease_until = NULL WHERE id = ? AND (state = 'queued' OR (state = 'running' "
                "AND worker = ?))",
                (state, error, json.dumps(list(results)), now, job_id, worker),
            )
        return cursor.rowcount == 1

    def get(self, job_id: str) -> JobRecord | None:
        with self._lock:
            sql = f"SELECT {_COLUMNS} FROM jobs WHERE id = ?"
            row = self._db.execute(sql, (job_id,)).fetchone()
        return _record(row) if row else None

    def unfinished(self) -> list[JobRecord]:
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM jobs WHERE state IN ('queued', 'running') "
                "ORDER BY created_at, id"
            ).fetchall()
        return [_record(r) for r in rows]

    def forget_finished(self, keep: int) -> None:
        with self._lock:
            self._db.execute(
                "DELETE FROM jobs WHERE finished_at IS NOT NULL AND id NOT IN (SELECT id FROM "
                "jobs WHERE finished_at IS NOT NULL ORDER BY finished_at DESC LIMIT ?)",
                (keep,),
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()


_RESULT_FIELDS = ("source", "status", "chunks", "reason", "doc_id")  # the first release's rows


def _results(raw: str) -> tuple[dict[str, Any], ...]:
    rows = json.loads(raw)
    return tuple(
        r if isinstance(r, dict) else dict(zip(_RESULT_FIELDS, r, strict=True)) for r in rows
    )


def _record(row: Sequence[Any]) -> JobRecord:
    return JobRecord(
        id=str(row[0]),
        kb=str(row[1]),
        kind=str(row[2]),
        state=row[3],
        created_at=float(row[4]),
        finished_at=None if row[5] is None else float(row[5]),
        error=row[6],
        results=_results(row[7]),
        redo=json.loads(row[8]) if row[8] else None,
        temp_dir=row[9],
        attempts=int(row[10]),
        worker=row[11],
    )
