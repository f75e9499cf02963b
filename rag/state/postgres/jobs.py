"""The job store in PostgreSQL (the `JobStore` port): any worker on any host claims with `FOR
UPDATE SKIP LOCKED` (claimers never wait on each other's rows), under a lease it renews by
heartbeat; a job whose lease ran out (its worker died or hangs) is claimed again by the next
worker, its attempts counted, and failed with the reason once they are spent. Claims go
first to knowledge bases with no job running, then to the one served least recently. The
times (`now`) are the caller's, as in the embedded store, so both pass the same suite."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from rag.state.base import (
    JOB_COLUMNS,
    ClaimedJob,
    JobRecord,
    JobState,
    given_up,
    job_record,
    job_values,
)

if TYPE_CHECKING:
    from rag.postgres import Database

__all__ = ["PgJobStore"]

_DDL = """
CREATE TABLE IF NOT EXISTS {s}.jobs (
    id text PRIMARY KEY, kb text NOT NULL, kind text NOT NULL, state text NOT NULL,
    created_at double precision NOT NULL, finished_at double precision, error text,
    results jsonb NOT NULL DEFAULT '[]', redo jsonb, temp_dir text,
    attempts integer NOT NULL DEFAULT 0, worker text, lease_until double precision,
    claimed_at double precision, cancel boolean NOT NULL DEFAULT false, progress jsonb);
CREATE INDEX IF NOT EXISTS jobs_open ON {s}.jobs (created_at, id)
    WHERE state IN ('queued', 'running');
CREATE INDEX IF NOT EXISTS jobs_finished ON {s}.jobs (finished_at)
    WHERE finished_at IS NOT NULL;
"""
_GIVE_UP = """
UPDATE {s}.jobs SET state = 'failed', finished_at = %(now)s, lease_until = NULL,
    error = CASE WHEN cancel THEN 'cancelled' WHEN redo IS NULL THEN %(orphaned)s
                 ELSE %(stalled)s END
WHERE state = 'running' AND COALESCE(lease_until, 0) < %(now)s
  AND (cancel OR attempts >= %(max_attempts)s OR redo IS NULL)
"""
# The next claimable job, fairly between knowledge bases (as the embedded store); rows other
# claimers hold are skipped, never waited for.
_CLAIM = f"""
WITH k AS (
    SELECT kb, count(*) FILTER (WHERE state = 'running' AND COALESCE(lease_until, 0)
           >= %(now)s) AS live, max(claimed_at) AS last
    FROM {{s}}.jobs WHERE state IN ('queued', 'running') OR claimed_at IS NOT NULL
    GROUP BY kb),
next AS (
    SELECT j.id FROM {{s}}.jobs j JOIN k ON k.kb = j.kb
    WHERE j.state IN ('queued', 'running')
      AND (j.state = 'queued' OR COALESCE(j.lease_until, 0) < %(now)s
           OR (j.worker = %(worker)s AND %(job_id)s::text IS NOT NULL))
      AND (%(job_id)s::text IS NULL OR j.id = %(job_id)s::text)
      AND (%(job_id)s::text IS NOT NULL OR j.redo IS NOT NULL)
    ORDER BY k.live, k.last NULLS FIRST, j.created_at, j.id
    LIMIT 1 FOR UPDATE OF j SKIP LOCKED)
UPDATE {{s}}.jobs j SET state = 'running', worker = %(worker)s, lease_until = %(until)s,
    attempts = j.attempts + 1, claimed_at = %(now)s
FROM next WHERE j.id = next.id
RETURNING {", ".join(f"j.{c.strip()}" for c in JOB_COLUMNS.split(","))}, j.lease_until
"""


class PgJobStore:
    """Jobs of every knowledge base of the deployment, in one table."""

    def __init__(self, db: Database) -> None:
        db.ensure("jobs", _DDL)
        self._db = db

    def _run(self, sql: str, params: Sequence[Any] | dict[str, Any]) -> Any:
        with self._db.connection() as conn:
            return conn.execute(self._db.sql(sql), params)

    def enqueue(self, job: JobRecord) -> None:
        self._run(
            "INSERT INTO {s}.jobs (id, kb, kind, state, created_at, results, redo, temp_dir) "
            "VALUES (%s, %s, %s, 'queued', %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
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
        params = {"now": now, "worker": worker, "job_id": job_id, "until": now + lease_s}
        with self._db.transaction() as conn:
            conn.execute(self._db.sql(_GIVE_UP), given_up(now, max_attempts))
            row = conn.execute(self._db.sql(_CLAIM), params).fetchone()
        if row is None:
            return None
        return ClaimedJob(_record(row[:-1]), float(row[-1]))

    def heartbeat(self, job_id: str, worker: str, lease_s: float, now: float) -> bool:
        cursor = self._run(
            "UPDATE {s}.jobs SET lease_until = %s WHERE id = %s AND worker = %s "
            "AND state = 'running' AND NOT cancel",
            (now + lease_s, job_id, worker),
        )
        return bool(cursor.rowcount == 1)

    def progress(
        self,
        job_id: str,
        results: Sequence[dict[str, Any]],
        counters: dict[str, int] | None = None,
    ) -> bool:
        row = self._run(
            "UPDATE {s}.jobs SET results = %s, progress = COALESCE(%s::jsonb, progress) "
            "WHERE id = %s RETURNING cancel",
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
        cursor = self._run(
            "UPDATE {s}.jobs SET state = %s, error = %s, results = %s, finished_at = %s, "
            "lease_until = NULL WHERE id = %s AND (state = 'queued' OR (state = 'running' "
            "AND worker = %s))",
            (state, error, json.dumps(list(results)), now, job_id, worker),
        )
        return bool(cursor.rowcount == 1)

    def release(self, job_id: str, worker: str) -> bool:
        cursor = self._run(
            "UPDATE {s}.jobs SET state = 'queued', worker = NULL, lease_until = NULL, "
            "attempts = greatest(attempts - 1, 0) WHERE id = %s AND worker = %s "
            "AND state = 'running'",
            (job_id, worker),
        )
        return bool(cursor.rowcount == 1)

    def cancel(self, job_id: str, now: float) -> JobState | None:
        with self._db.transaction() as conn:
            queued = conn.execute(
                self._db.sql(
                    "UPDATE {s}.jobs SET state = 'failed', error = 'cancelled', finished_at = %s "
                    "WHERE id = %s AND state = 'queued'"
                ),
                (now, job_id),
            )
            if queued.rowcount == 1:
                return "failed"
            running = conn.execute(
                self._db.sql(
                    "UPDATE {s}.jobs SET cancel = true WHERE id = %s AND state = 'running'"
                ),
                (job_id,),
            )
        return "running" if running.rowcount == 1 else None

    def retry(self, job_id: str) -> bool:
        cursor = self._run(
            "UPDATE {s}.jobs SET state = 'queued', error = NULL, finished_at = NULL, "
            "worker = NULL, lease_until = NULL, attempts = 0, cancel = false, results = '[]', "
            "progress = NULL WHERE id = %s AND state = 'failed'",
            (job_id,),
        )
        return bool(cursor.rowcount == 1)

    def get(self, job_id: str) -> JobRecord | None:
        row = self._run(f"SELECT {JOB_COLUMNS} FROM {{s}}.jobs WHERE id = %s", (job_id,)).fetchone()
        return _record(row) if row else None

    def unfinished(self) -> list[JobRecord]:
        rows = self._run(
            f"SELECT {JOB_COLUMNS} FROM {{s}}.jobs WHERE state IN ('queued', 'running') "
            "ORDER BY created_at, id",
            (),
        ).fetchall()
        return [_record(r) for r in rows]

    def forget_finished(self, keep: int) -> list[str]:
        rows = self._run(
            "DELETE FROM {s}.jobs WHERE finished_at IS NOT NULL AND id NOT IN (SELECT id FROM "
            "{s}.jobs WHERE finished_at IS NOT NULL ORDER BY finished_at DESC LIMIT %s) "
            "RETURNING temp_dir",
            (keep,),
        ).fetchall()
        return [r[0] for r in rows if r[0]]

    def close(self) -> None:
        """Nothing to release: the connections are the process's pool."""


def _record(row: Sequence[Any]) -> JobRecord:
    return job_record(row, lambda value: value)  # jsonb comes decoded
