"""Document jobs: every write of the service goes through one worker thread, the writer.

Embedded stores allow one writing process, and the index's writes are not meant to run
side by side: uploads, text documents and deletes are queued as jobs and run one at a time
by the worker, while searches go on in other threads (the index shows each write whole).
Finished jobs are kept (the last `kept`) for `GET /v1/jobs/{id}`, in memory and in the
state's job store (`rag.state.base.JobStore`): each job is enqueued there when submitted,
claimed by the writer (under its stable name, with a lease it renews while the job runs) and
finished there. A server killed mid-job finds its unfinished jobs when it starts again:
it takes back and runs again those it can rebuild, and marks the others failed, with the
reason.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import threading
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from api.metrics import Metrics
from ingest.jobs import result_row
from ingest.run import FileResult, IngestReport
from ingest.worker import Heartbeat, JobStopped
from rag.errors import RagError
from rag.state.base import ORPHANED, JobRecord, JobStore, UploadStaging
from rag.state.sqlite_jobs import SqliteJobStore

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
    temp_dir: str | None = None  # the job's upload batch
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
    attempts: int = 0
    worker: str | None = None  # who runs (or ran) it
    cancelled: threading.Event = field(default_factory=threading.Event)

    @classmethod
    def from_record(cls, stored: JobRecord) -> Job:
        """A job read back from the store (its work is done or lost)."""
        job = cls(
            stored.kb,
            stored.kind,  # type: ignore[arg-type]
            lambda job: None,
            stored.temp_dir,
            stored.id,
            stored.state,
            results=[FileResult(**r) for r in stored.results],
            error=stored.error,
            created_at=stored.created_at,
            finished_at=stored.finished_at,
            redo=stored.redo,
            attempts=stored.attempts,
            worker=stored.worker,
        )
        counters = stored.progress or {}
        job.done_steps, job.total_steps = counters.get("done", 0), counters.get("total", 0)
        job.chunks_embedded = counters.get("chunks_embedded", 0)
        job.chunks_found = counters.get("chunks_found", 0)
        if stored.state in ("done", "failed"):
            job.finished.set()
        return job

    def record(self) -> JobRecord:
        """The job as the store keeps it."""
        return JobRecord(
            self.id,
            self.kb,
            self.kind,
            self.state,
            self.created_at,
            self.finished_at,
            self.error,
            tuple(result_row(r) for r in self.results),
            self.redo,
            self.temp_dir,
        )


class JobProgress:
    """Progress of a job's ingestion, as `ingest.progress.Progress`."""

    def __init__(self, job: Job) -> None:
        self._job = job

    def start(self, total: int, label: str) -> None:
        self._stop_if_cancelled()
        self._job.total_steps, self._job.done_steps = total, 0

    def advance(self, steps: int = 1, note: str = "") -> None:
        self._stop_if_cancelled()
        self._job.done_steps += steps

    def _stop_if_cancelled(self) -> None:
        if self._job.cancelled.is_set():
            raise JobStopped

    def chunks(self, embedded: int, found: int, note: str = "") -> None:
        self._job.chunks_embedded, self._job.chunks_found = embedded, found


class JobQueue:
    """The writer: `submit` queues a job, one thread runs them in order, each claimed in the
    job store first (under the name `worker`) and kept leased while it runs."""

    LEASE_S = 60.0  # a job's lease; renewed every third of it while the job runs

    def __init__(
        self,
        metrics: Metrics,
        kept: int = 1000,
        store: JobStore | None = None,
        worker: str = "writer",
        staging: UploadStaging | None = None,
        shared: bool = False,
    ) -> None:
        """`shared`: ingests are handed over to `rag worker`s (`hand_over`), counted from
        the store."""
        self._metrics, self._kept, self._worker = metrics, kept, worker
        self._shared = shared
        self._staging = staging
        self._store: JobStore = store or SqliteJobStore(None)
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._queue: deque[Job] = deque()
        self._lock = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="index-writer", daemon=True)
        self._thread.start()

    @property
    def depth(self) -> int:
        """Jobs queued or running: this process's, and (shared) every worker's in the store.
        Reads the store: call it off the event loop."""
        local = self._local_depth()
        return local + (len(self._store.unfinished()) if self._shared else 0)

    def _local_depth(self) -> int:
        with self._lock:
            return sum(1 for j in self._jobs.values() if j.state in ("queued", "running"))

    def submit(self, job: Job) -> Job:
        with self._lock:
            if self._closed:
                raise RuntimeError("the job queue is closed")
            self._jobs[job.id] = job
            self._queue.append(job)
            if _kept(job):
                self._store.enqueue(job.record())
            self._forget_old()
            self._lock.notify()
        self._metrics.jobs_queued.set(self._local_depth())
        return job

    def cancel(self, job: Job) -> Job:
        """Cancel a job: a queued one fails now, a running one stops at its next file (this
        process's writer, or its worker elsewhere at its next heartbeat)."""
        with self._lock:
            if job in self._queue:
                self._queue.remove(job)
                self._finish(job, "failed", "cancelled")
                return job
        job.cancelled.set()
        self._store.cancel(job.id, time.time())
        return self.get(job.id) or job

    def retry(self, job: Job, again: Job | None) -> Job | None:
        """Run a failed job again: `again`, rebuilt from its record, here (None: a worker of
        the shared deployment claims it). None when the job is not failed."""
        if job.state != "failed" or not self._store.retry(job.id):
            return None
        if again is None:
            return self.get(job.id)
        again.id, again.created_at = job.id, job.created_at
        with self._lock:
            self._jobs.pop(job.id, None)
        return self.submit(again)

    def record_of(self, job_id: str) -> JobRecord | None:
        """The job as the store keeps it."""
        return self._store.get(job_id)

    def hand_over(self, job: Job) -> Job:
        """Store `job` for a worker of another process (`rag worker`) to claim; it is read
        back from the store, with its progress, by whoever asks."""
        self._store.enqueue(job.record())
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            stored = self._store.get(job_id)
            job = Job.from_record(stored) if stored else None
        return job

    def recover(self, restore: Callable[[JobRecord], Job | None]) -> tuple[int, int]:
        """Run again the jobs a stopped writer left unfinished (`restore` rebuilds one, or
        None when it cannot run again); the others are marked failed, with the reason.

        Returns:
            (restarted, failed).
        """
        restarted = failed = 0
        for stored in self._store.unfinished():
            job = restore(stored)
            if job is not None:
                job.id, job.created_at = stored.id, stored.created_at
                self.submit(job)  # already in the store: its row is kept
                restarted += 1
                continue
            lost = Job.from_record(stored)
            self._store.claim(self._worker, self.LEASE_S, time.time(), job_id=lost.id)
            self._finish(lost, "failed", ORPHANED)
            self._discard(lost)
            failed += 1
        return restarted, failed

    def close(self, wait_s: float = 30.0) -> None:
        """Finish the running job, fail the queued ones, stop the worker."""
        with self._lock:
            self._closed = True
            for job in self._queue:
                self._finish(job, "failed", "the server shut down before this job ran")
            self._queue.clear()
            self._lock.notify()
        self._thread.join(wait_s)
        self._forget_stored()
        if self._thread.is_alive():
            # The running job still writes its end to the store; if the process stops first,
            # its lease runs out and the next writer takes it back.
            logger.warning("a job is still running at shutdown; the store stays open for it")
            return
        self._store.close()

    def _forget_old(self) -> None:
        finished = [j for j in self._jobs.values() if j.finished_at is not None]
        dropped = finished[: max(0, len(self._jobs) - self._kept)]
        for job in dropped:
            del self._jobs[job.id]
        if dropped:  # the store is trimmed alike, not only at shutdown
            self._forget_stored()

    def _forget_stored(self) -> None:
        """Trim the store's finished jobs; the upload batches they kept (a failed job's, for
        a retry) go with them."""
        for batch in self._store.forget_finished(self._kept):
            if self._staging is not None:
                self._staging.discard(batch)

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._queue and not self._closed:
                    self._lock.wait()
                if self._closed and not self._queue:
                    return
                job = self._queue.popleft()
                job.state = "running"
            if _kept(job) and not self._claim(job):
                continue
            beat = Heartbeat(self._store, job.id, self._worker, self.LEASE_S)
            with beat if _kept(job) else contextlib.nullcontext():
                self._execute(job)
            self._metrics.jobs_queued.set(self._local_depth())

    def _claim(self, job: Job) -> bool:
        claimed = self._store.claim(self._worker, self.LEASE_S, time.time(), job_id=job.id)
        if claimed is not None:
            job.attempts, job.worker = claimed.job.attempts, self._worker
        if claimed is None:  # finished or taken by another worker meanwhile: not ours to run
            logger.warning("job %s could not be claimed from the job store; skipped", job.id)
            stored = self._store.get(job.id)
            job.state = stored.state if stored else "failed"
            job.finished.set()
        return claimed is not None

    def _execute(self, job: Job) -> None:
        failed = True
        try:
            report = job.work(job)
        except JobStopped:
            self._finish(job, "failed", "cancelled")
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
            failed = False
        finally:
            if not failed:  # a failed job keeps its uploads for a retry, until it is forgotten
                self._discard(job)

    def _discard(self, job: Job) -> None:
        """The job's uploaded files are not needed any more."""
        if job.temp_dir is None:
            return
        if self._staging is not None:
            self._staging.discard(job.temp_dir)
        else:
            shutil.rmtree(job.temp_dir, ignore_errors=True)

    def _finish(self, job: Job, state: Literal["done", "failed"], error: str | None) -> None:
        job.state, job.error, job.finished_at = state, error, time.time()
        if _kept(job):
            results = [result_row(r) for r in job.results]
            self._store.finish(job.id, self._worker, state, error, results, job.finished_at)
        job.finished.set()


def _kept(job: Job) -> bool:
    """Whether the job store keeps the job (the start-up check runs again by itself)."""
    return job.kind != "check"
