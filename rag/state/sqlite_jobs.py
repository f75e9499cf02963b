"""The job store on SQLite (`<data_dir>/jobs.sqlite`): the embedded `JobStore`.

A claim is one transaction: running jobs whose lease ran out for good (out of attempts, or
being cancelled) are failed with the reason, then one `UPDATE ... RETURNING` makes the next
job (queued, or running with its lease run out: its worker stopped heartbeating) the
caller's, with a new lease and one more attempt, fairly between knowledge bases. A worker
that lost its job (another claimed it after its lease ran out) finds out at its next
heartbeat or when it finishes: both answer False.

Example:
    >>> store = SqliteJobStore(Path(".rag/jobs.sqlite"))  # doctest: +SKIP
    >>> store.enqueue(JobRecord("j1", "default", "ingest", "queued", time.time()))  # doctest: +SKIP
    >>> claimed = store.claim("worker-1", lease_s=60, now=time.time())  # doctest: +SKIP
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from rag.state.base import (
    JOB_COLUMNS,
    ClaimedJob,
    JobRecord,
    JobState,
    given_up,
    job_record,
    job_values,
)

__all__ = ["SqliteJobStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY, kb TEXT NOT NULL, kind TEXT NOT NULL, state TEXT NOT NULL,
    created_at REAL NOT NULL, finished_at REAL, error TEXT, results TEXT NOT NULL,
    redo TEXT, temp_dir TEXT
);
"""
# Columns added after the first release: an older jobs.sqlite gets them when opened.
_ADDED = {
    "attempts": "INTEGER NOT NULL DEFAULT 0",
    "worker": "TEXT",
    "lease_until": "REAL",
    "claimed_at": "REAL",
    "cancel": "INTEGER NOT NULL DEFAULT 0",
    "progress": "TEXT",
}
# Running jobs whose lease ran out for good: out of attempts, being cancelled, or one no
# other process can run (no redo).
_GIVE_UP = """
UPDATE jobs SET state = 'failed', finished_at = :now, lease_until = NULL,
    error = CASE WHEN cancel THEN 'cancelled' WHEN redo IS NULL THEN :orphaned
                 ELSE :stalled END
WHERE state = 'running' AND COALESCE(lease_until, 0) < :now
  AND (cancel OR attempts >= :max_attempts OR redo IS NULL)
"""
# Claimable (queued; running with its lease run out, a running row without a lease is
# abandoned; asked for by id, the worker's own; not asked for by id, only a job with a redo
# that any process can run), fairly between knowledge bases.
_CLAIM = f"""
UPDATE jobs SET state = 'running', worker = :worker, lease_until = :until,
    attempts = attempts + 1, claimed_at = :now
WHERE id = (
    SELECT j.id FROM jobs j JOIN (
        SELECT kb, SUM(state = 'running' AND COALESCE(lease_until, 0) >= :now) AS live,
               MAX(claimed_at) AS last
        FROM jobs GROUP BY kb) AS k ON k.kb = j.kb
    WHERE (j.state = 'queued' OR (j.state = 'running' AND (COALESCE(j.lease_until, 0) < :now
           OR (j.worker = :worker AND :job_id IS NOT NULL))))
      AND (:job_id IS NULL OR j.id = :job_id)
      AND (:job_id IS NOT NULL OR j.redo IS NOT NULL)
    ORDER BY k.live, k.last, j.created_at, j.id LIMIT 1)
RETURNING {JOB_COLUMNS}, lease_until
"""


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
                job_values(job),
            )

    def claim(
        self,
        worker: str,
        lease_s: float,
        now: float,
        job_id: str | None = None,
        max_attempts: int = 3,
    ) -> ClaimedJob | None:
        params = {"worker": worker, "until": now + lease_s, "now": now, "job_id": job_id}
        with self._lock, self._transaction():
            self._db.execute(_GIVE_UP, given_up(now, max_attempts))
            row = self._db.execute(_CLAIM, params).fetchone()
        if row is None:
            return None
        return ClaimedJob(_record(row[:-1]), float(row[-1]))

    def heartbeat(self, job_id: str, worker: str, lease_s: float, now: float) -> bool:
        with self._lock:
            cursor = self._db.execute(
                "UPDATE jobs SET lease_until = ? WHERE id = ? AND worker = ? "
                "AND state = 'running' AND NOT cancel",
                (now + lease_s, job_id, worker),
            )
        return cursor.rowcount == 1

    def progress(
        self,
        job_id: str,
        results: Sequence[dict[str, Any]],
        counters: dict[str, int] | None = None,
    ) -> bool:
        with self._lock:
            row = self._db.execute(
                "UPDATE jobs SET results = ?, progress = COALESCE(?, progress) WHERE id = ? "
                "RETURNING cancel",
                (json.dumps(list(results)), json.dumps(counters) if counters else None, job_id),
            ).fetchone()
        return row is not None and not row[0]

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

    def release(self, job_id: str, worker: str) -> bool:
        with self._lock:
            cursor = self._db.execute(
                "UPDATE jobs SET state = 'queued', worker = NULL, lease_until = NULL, "
                "attempts = MAX(attempts - 1, 0) WHERE id = ? AND worker = ? "
                "AND state = 'running'",
                (job_id, worker),
            )
        return cursor.rowcount == 1

    def cancel(self, job_id: str, now: float) -> JobState | None:
        with self._lock:
            queued = self._db.execute(
                "UPDATE jobs SET state = 'failed', error = 'cancelled', finished_at = ? "
                "WHERE id = ? AND state = 'queued'",
                (now, job_id),
            )
            if queued.rowcount == 1:
                return "failed"
            running = self._db.execute(
                "UPDATE jobs SET cancel = 1 WHERE id = ? AND state = 'running'", (job_id,)
            )
        return "running" if running.rowcount == 1 else None

    def retry(self, job_id: str) -> bool:
        with self._lock:
            cursor = self._db.execute(
                "UPDATE jobs SET state = 'queued', error = NULL, finished_at = NULL, "
                "worker = NULL, lease_until = NULL, attempts = 0, cancel = 0, results = '[]', "
                "progress = NULL WHERE id = ? AND state = 'failed'",
                (job_id,),
            )
        return cursor.rowcount == 1

    def get(self, job_id: str) -> JobRecord | None:
        with self._lock:
            sql = f"SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?"
            row = self._db.execute(sql, (job_id,)).fetchone()
        return _record(row) if row else None

    def unfinished(self) -> list[JobRecord]:
        with self._lock:
            rows = self._db.execute(
                f"SELECT {JOB_COLUMNS} FROM jobs WHERE state IN ('queued', 'running') "
                "ORDER BY created_at, id"
            ).fetchall()
        return [_record(r) for r in rows]

    def forget_finished(self, keep: int) -> list[str]:
        stale = (
            "FROM jobs WHERE finished_at IS NOT NULL AND id NOT IN (SELECT id FROM jobs "
            "WHERE finished_at IS NOT NULL ORDER BY finished_at DESC LIMIT ?)"
        )
        with self._lock, self._transaction():
            batches = [
                r[0]
                for r in self._db.execute(
                    f"SELECT temp_dir {stale} AND temp_dir IS NOT NULL", (keep,)
                )
            ]
            self._db.execute(f"DELETE {stale}", (keep,))
        return batches

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _record(row: Sequence[Any]) -> JobRecord:
    return job_record(row, lambda raw: json.loads(raw) if raw else None)
