"""Jobs kept on disk (`<data_dir>/jobs.sqlite`), so a server killed mid-job knows, when it
starts again, which jobs it had not finished.

Each job is saved when it is queued, starts and finishes, with its results and, for jobs
that can be run again, `redo`: what the job needs to run once more (the uploaded files'
names and paths, a text document). At start-up, `unfinished()` lists the jobs a dead server
left queued or running: the service restarts those it can (their files are still in
`<data_dir>/uploads/`; writes are per document and idempotent, so a document the dead
server had finished is skipped) and marks the others failed, with the reason.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ingest.run import FileResult

__all__ = ["JobStore", "StoredJob"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY, kb TEXT NOT NULL, kind TEXT NOT NULL, state TEXT NOT NULL,
    created_at REAL NOT NULL, finished_at REAL, error TEXT, results TEXT NOT NULL,
    redo TEXT, temp_dir TEXT
);
"""


@dataclass(frozen=True, slots=True)
class StoredJob:
    """A job as saved."""

    id: str
    kb: str
    kind: str
    state: str
    created_at: float
    finished_at: float | None
    error: str | None
    results: list[FileResult]
    redo: dict[str, Any] | None
    temp_dir: Path | None


class JobStore:
    """The jobs table; safe to call from the writer and the request threads."""

    def __init__(self, path: Path | None) -> None:
        """`path` None: kept in memory only (a test, a read-only worker)."""
        self._db = sqlite3.connect(
            str(path) if path else ":memory:", check_same_thread=False, isolation_level=None
        )
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(_SCHEMA)

    def save(self, job: Any) -> None:
        """Insert or update `job` (an `api.jobs.Job`)."""
        results = json.dumps(
            [[r.source, r.status, r.chunks, r.reason, r.doc_id] for r in job.results]
        )
        row = (
            job.id,
            job.kb,
            job.kind,
            job.state,
            job.created_at,
            job.finished_at,
            job.error,
            results,
            json.dumps(job.redo) if job.redo is not None else None,
            str(job.temp_dir) if job.temp_dir else None,
        )
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO jobs VALUES (?,?,?,?,?,?,?,?,?,?)", row)

    def get(self, job_id: str) -> StoredJob | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM jobs WHERE id=?", (job_id,)).fetchone()
        return _stored(row) if row else None

    def unfinished(self) -> list[StoredJob]:
        """Jobs saved as queued or running (by a server that is gone), oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM jobs WHERE state IN ('queued', 'running') ORDER BY created_at"
            ).fetchall()
        return [_stored(r) for r in rows]

    def forget_before(self, keep: int) -> None:
        """Keep the newest `keep` finished jobs."""
        with self._lock:
            self._db.execute(
                "DELETE FROM jobs WHERE finished_at IS NOT NULL AND id NOT IN (SELECT id FROM "
                "jobs WHERE finished_at IS NOT NULL ORDER BY finished_at DESC LIMIT ?)",
                (keep,),
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _stored(row: tuple[Any, ...]) -> StoredJob:
    results = [FileResult(s, st, int(c), r, d) for s, st, c, r, d in json.loads(row[7])]
    return StoredJob(
        id=row[0],
        kb=row[1],
        kind=row[2],
        state=row[3],
        created_at=float(row[4]),
        finished_at=row[5],
        error=row[6],
        results=results,
        redo=json.loads(row[8]) if row[8] else None,
        temp_dir=Path(row[9]) if row[9] else None,
    )
