"""The job store in PostgreSQL (the `JobStore` port): any worker on any host claims with
`FOR UPDATE SKIP LOCKED` (claimers never wait on each other's rows), under a lease it renews
by heartbeat; a job whose lease ran out (its worker died or hangs) is claimed again by the
next worker, its attempts counted. The times (`now`) are the caller's, as in the embedded
store, so both pass the same suite.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from rag.state.base import ClaimedJob, JobRecord

if TYPE_CHECKING:
    from rag.postgres import Database

__all__ = ["PgJobStore"]

_DDL = """
CREATE TABLE IF NOT EXISTS {s}.jobs (
    id text PRIMARY KEY, kb text NOT NULL, kind text NOT NULL, state text NOT NULL,
    created_at double precision NOT NULL, finished_at double precision, error text,
    results jsonb NOT NULL DEFAULT '[]', redo jsonb, temp_dir text,
    attempts integer NOT NULL DEFAULT 0, worker text, lease_until double precision);
CREATE INDEX IF NOT EXISTS jobs_open ON {s}.jobs (created_at, id)
    WHERE state IN ('queued', 'running');
CREATE INDEX IF NOT EXISTS jobs_finished ON {s}.jobs (finished_at)
    WHERE finished_at IS NOT NULL;
"""
_COLUMNS = (
    "id, kb, kind, state, created_at, finished_at, error, results, redo, temp_dir, attempts, worker"
)
# The oldest claimable job (with a job id, that one): queued, or running with its lease run
# out, or, asked for by id, the worker's own.
_CLAIM = f"""
WITH next AS (
    SELECT id FROM {{s}}.jobs
    WHERE state IN ('queued', 'running')
      AND (state = 'queued' OR COALESCE(lease_until, 0) < %(now)s
           OR (worker = %(worker)s AND %(job_id)s::text IS NOT NULL))
      AND (%(job_id)s::text IS NULL OR id = %(job_id)s::text)
    ORDER BY created_at, id LIMIT 1 FOR UPDATE SKIP LOCKED)
UPDATE {{s}}.jobs j SET state = 'running', worker = %(worker)s, lease_until = %(until)s,
    attempts = j.attempts + 1
FROM next WHERE j.id = next.id
RETURNING {", ".join(f"j.{c.strip()}" for c in _COLUMNS.split(","))}, j.lease_until
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
        params = {"now": now, "worker": worker, "job_id": job_id, "until": now + lease_s}
        with self._db.connection() as conn:
            row = conn.execute(self._db.sql(_CLAIM), params).fetchone()
        if row is None:
            return None
        return ClaimedJob(_record(row[:-1]), float(row[-1]))

    def heartbeat(self, job_id: str, worker: str, lease_s: float, now: float) -> bool:
        cursor = self._run(
            "UPDATE {s}.jobs SET lease_until = %s WHERE id = %s AND worker = %s "
            "AND state = 'running'",
            (now + lease_s, job_id, worker),
        )
        return bool(cursor.rowcount == 1)

    def progress(self, job_id: str, results: Sequence[dict[str, Any]]) -> None:
        self._run(
            "UPDATE {s}.jobs SET results = %s WHERE id = %s", (json.dumps(list(results)), job_id)
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
        cursor = self._run(
            "UPDATE {s}.jobs SET state = %s, error = %s, results = %s, finished_at = %s, "
            "lease_until = NULL WHERE id = %s AND (state = 'queued' OR (state = 'running' "
            "AND worker = %s))",
            (state, error, json.dumps(list(results)), now, job_id, worker),
        )
        return bool(cursor.rowcount == 1)

    def get(self, job_id: str) -> JobRecord | None:
        row = self._run(f"SELECT {_COLUMNS} FROM {{s}}.jobs WHERE id = %s", (job_id,)).fetchone()
        return _record(row) if row else None

    def unfinished(self) -> list[JobRecord]:
        rows = self._run(
            f"SELECT {_COLUMNS} FROM {{s}}.jobs WHERE state IN ('queued', 'running') "
            "ORDER BY created_at, id",
            (),
        ).fetchall()
        return [_record(r) for r in rows]

    def forget_finished(self, keep: int) -> None:
        self._run(
            "DELETE FROM {s}.jobs WHERE finished_at IS NOT NULL AND id NOT IN (SELECT id FROM "
            "{s}.jobs WHERE finished_at IS NOT NULL ORDER BY finished_at DESC LIMIT %s)",
            (keep,),
        )

    def close(self) -> None:
        """Nothing to release: the connections are the process's pool."""


def _record(row: Sequence[Any]) -> JobRecord:
    return JobRecord(
        id=str(row[0]),
        kb=str(row[1]),
        kind=str(row[2]),
        state=row[3],
        created_at=float(row[4]),
        finished_at=None if row[5] is None else float(row[5]),
        error=row[6],
        results=tuple(row[7]),
        redo=row[8],
        temp_dir=row[9],
        attempts=int(row[10]),
        worker=row[11],
    )
