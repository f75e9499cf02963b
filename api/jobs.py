"""Document jobs: every write of the service goes through one worker thread, the writer.

Embedded stores allow one writing process, and the index's writes are not meant to run
side by side: uploads, text documents and deletes are queued as jobs and run one at a time
by the worker, while searches go on in other threads (the index shows each write whole).
Finished jobs are kept (the last `kept`) for `GET /v1/jobs/{id}`, in memory and, with a
`JobStore`, on disk: a server killed mid-job restarts its unfinished jobs when it starts
again, or marks them failed with the reason (see `api.jobstore`).
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from api.jobstore import JobStore, StoredJob
from api.metrics import Metrics
from ingest.run import FileResult, IngestReport
from rag.errors import RagError

__all__ = ["Job", "JobQueue", "JobProgress"]

logger = logging.getLogger(__name__)

State = Literal["queued", "running", "done", "failed"]
Kind = Literal["ingest", "delete", "kb", "check"]


@dataclass
class Job:
    """One queued write and what became of it."""

    kb: str
    kind: Kind
    work: Callable[[Job], IngestReport | None]
    temp_dir: Path | None = None
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    state: State = "queued"
    done_steps: int = 0
    total_steps: int = 0
    chunks_embedded: int = 0
    chunks_found: int = 0
    results: list[FileResult] = field(default_factory=list)
    error: str | None = None
    created_at: float = field(default_factory=time.time)
    finished_at: float | None = None
    finished: threading.Event = field(default_factory=threading.Event)
    redo: dict[str, Any] | None = None  # what running it again needs (saved with the job)

    @classmethod
    def from_stored(cls, stored: StoredJob) -> Job:
        """A finished job read back from the store (its work is done or lost)."""
        job = cls(
            stored.kb,
            stored.kind,  # type: ignore[arg-type]
            lambda job: None,
            stored.temp_dir,
            stored.id,
            stored.state,  # type: ignore[arg-type]
            results=stored.results,
            error=stored.error,
            created_at=stored.created_at,
            finished_at=stored.finished_at,
            redo=stored.redo,
        )
        job.finished.set()
        return job


class JobProgress:
    """Progress of a job's ingestion, as `ingest.progress.Progress`."""

    def __init__(self, job: Job) -> None:
        self._job = job

    def start(self, total: int, label: str) -> None:
        self._job.total_steps, self._job.done_steps = total, 0

    def advance(self, steps: int = 1, note: str = "") -> None:
        self._job.done_steps += steps

    def chunks(self, embedded: int, found: int, note: str = "") -> None:
        self._job.chunks_embedded, self._job.chunks_found = embedded, found


class JobQueue:
    """The writer: `submit` queues a job, one thread runs them in order."""

    def __init__(self, metrics: Metrics, kept: int = 1000, store: JobStore | None = None) -> None:
        self._metrics, self._kept = metrics, kept
        self._store = store or JobStore(None)
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._queue: deque[Job] = deque()
        self._lock = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="index-writer", daemon=True)
        self._thread.start()

    @property
    def depth(self) -> int:
        """Jobs queued or running."""
        with self._lock:
            return sum(1 for j in self._jobs.values() if j.state in ("queued", "running"))

    def submit(self, job: Job) -> Job:
        with self._lock:
            if self._closed:
                raise RuntimeError("the job queue is closed")
            self._jobs[job.id] = job
            self._queue.append(job)
            self._save(job)
            self._forget_old()
            self._lock.notify()
        self._metrics.jobs_queued.set(self.depth)
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            stored = self._store.get(job_id)
            job = Job.from_stored(stored) if stored else None
        return job

    def recover(self, restore: Callable[[StoredJob], Job | None]) -> tuple[int, int]:
        """Restart the jobs a dead server left unfinished (`restore` rebuilds one, or None
        when it cannot run again); the others are marked failed, with the reason.

        Returns:
            (restarted, failed).
        """
        restarted = failed = 0
        for stored in self._store.unfinished():
            job = restore(stored)
            if job is not None:
                job.id, job.created_at = stored.id, stored.created_at
                self.submit(job)
                restarted += 1
                continue
            lost = Job.from_stored(stored)
            self._finish(
                lost,
                "failed",
                "the server stopped (killed or crashed) before this job finished, and it "
                "cannot be run again; each document is written whole or not at all: send "
                "the request again",
            )
            if lost.temp_dir is not None:
                shutil.rmtree(lost.temp_dir, ignore_errors=True)
            failed += 1
        return restarted, failed

    def _save(self, job: Job) -> None:
        if job.kind != "check":  # the start-up check runs again by itself
            self._store.save(job)

    def close(self, wait_s: float = 30.0) -> None:
        """Finish the running job, fail the queued ones, stop the worker."""
        with self._lock:
            self._closed = True
            for job in self._queue:
                self._finish(job, "failed", "the server shut down before this job ran")
            self._queue.clear()
            self._lock.notify()
        self._thread.join(wait_s)
        self._store.forget_before(self._kept)
        self._store.close()

    def _forget_old(self) -> None:
        finished = [j for j in self._jobs.values() if j.finished_at is not None]
        dropped = finished[: max(0, len(self._jobs) - self._kept)]
        for job in dropped:
            del self._jobs[job.id]
        if dropped:  # jobs.sqlite is trimmed alike, not only at shutdown
            self._store.forget_before(self._kept)

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._queue and not self._closed:
                    self._lock.wait()
                if self._closed and not self._queue:
                    return
                job = self._queue.popleft()
                job.state = "running"
            self._save(job)
            self._execute(job)
            self._metrics.jobs_queued.set(self.depth)

    def _execute(self, job: Job) -> None:
        try:
            report = job.work(job)
        except RagError as exc:
            self._finish(job, "failed", str(exc))
        except Exception as exc:  # noqa: BLE001 - one job's failure must not stop the writer
            logger.exception("job %s failed", job.id)
            self._finish(job, "failed", f"internal error: {type(exc).__name__}: {exc}")
        else:
            if report is not None:
                job.results = list(report.results)
                for result in report.results:
                    self._metrics.ingest_files.labels(result.status).inc()
                self._metrics.ingest_chunks.inc(report.chunks_written)
            self._finish(job, "done", None)
        finally:
            if job.temp_dir is not None:
                shutil.rmtree(job.temp_dir, ignore_errors=True)

    def _finish(self, job: Job, state: State, error: str | None) -> None:
        job.state, job.error, job.finished_at = state, error, time.time()
        self._save(job)
        job.finished.set()
