"""`rag worker`: ingestion on any host that reaches the shared state.

A worker claims document jobs from the state's job store (`rag.state.base.JobStore`: fair
between knowledge bases, one job at a time per worker), renews the job's lease by heartbeat
while it parses and embeds, writes its progress where every API worker reads it, and
finishes it there. The job is data (`ingest.jobs`): its uploaded files come from the upload
staging, so the API worker that took the upload may be on another host.

Nothing is ever stuck:
- a worker killed or hung stops heartbeating: another claims the job once its lease runs out
  (every step is idempotent), until its attempts are spent, then it is failed with the reason;
- a worker asked to stop (SIGTERM, Ctrl-C) stops its job at the next file and hands it back
  at once, this attempt not counted;
- a job cancelled through the API is stopped at its worker's next heartbeat;
- a database that goes away pauses the worker (the job's lease may run out meanwhile; it is
  claimed again when the database is back), it does not fail the job.

Example:
    >>> with Runtime.open(config, write=True) as runtime:  # doctest: +SKIP
    ...     Worker(runtime).run(stop)
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ingest.jobs import result_row, run_document_job
from rag.errors import DatabaseUnavailableError, KnowledgeBaseNotFoundError, RagError
from rag.runtime import Runtime
from rag.state.base import JobRecord, JobStore

__all__ = ["Heartbeat", "JobStopped", "StoredProgress", "Worker", "worker_name"]

logger = logging.getLogger(__name__)


class JobStopped(Exception):
    """The running job must stop: the worker is shutting down, or lost or was told to drop
    the job (cancelled, or its lease taken by another worker)."""


def worker_name() -> str:
    """`host:pid:random`: unique to this process's run."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Heartbeat:
    """Renews a running job's lease every third of it until the block ends; `on_lost` runs
    when the worker no longer holds the job (cancelled, or taken after its lease ran out)."""

    def __init__(
        self,
        store: JobStore,
        job_id: str,
        worker: str,
        lease_s: float,
        on_lost: Callable[[], None] = lambda: None,
        on_beat: Callable[[], None] = lambda: None,
    ) -> None:
        self._store, self._job, self._worker, self._lease = store, job_id, worker, lease_s
        self._on_lost, self._on_beat = on_lost, on_beat
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="job-heartbeat", daemon=True)

    def _beat(self) -> None:
        while not self._stop.wait(self._lease / 3):
            try:
                held = self._store.heartbeat(self._job, self._worker, self._lease, time.time())
            except DatabaseUnavailableError as exc:  # paused: beat again when it is back
                logger.warning("job %s: heartbeat failed (%s); retrying", self._job, exc)
                continue
            if not held:
                logger.warning("job %s: no longer this worker's (cancelled or taken)", self._job)
                self._on_lost()
                return
            self._on_beat()

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


class StoredProgress:
    """A job's progress (`ingest.progress.Progress`) written to the job store, at most once
    a second; raises `JobStopped` at the next step once `stop` is set."""

    def __init__(
        self, store: JobStore, job_id: str, stop: threading.Event, every_s: float = 1.0
    ) -> None:
        self._store, self._job, self._stop, self._every = store, job_id, stop, every_s
        self.counters = {"done": 0, "total": 0, "chunks_embedded": 0, "chunks_found": 0}
        self._written = 0.0
        self._lock = threading.Lock()

    def _check(self) -> None:
        if self._stop.is_set():
            raise JobStopped

    def save(self) -> None:
        """Write the counters now (the job's end)."""
        self._save(force=True)

    def _save(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._written < self._every:
            return
        self._written = now
        try:
            if not self._store.progress(self._job, [], dict(self.counters)):
                self._stop.set()  # cancelled: stopped at the next step
        except DatabaseUnavailableError:
            pass  # progress is shown, not needed: the next write catches up

    def start(self, total: int, label: str) -> None:
        self._check()
        with self._lock:
            self.counters.update(total=total, done=0)
        self._save(force=True)

    def advance(self, steps: int = 1, note: str = "") -> None:
        self._check()
        with self._lock:
            self.counters["done"] += steps
        self._save()

    def chunks(self, embedded: int, found: int, note: str = "") -> None:
        with self._lock:  # the ingest's writer thread: never raises there
            self.counters.update(chunks_embedded=embedded, chunks_found=found)


@dataclass
class Worker:
    """Runs document jobs of the state's job store, one at a time."""

    runtime: Runtime
    name: str = field(default_factory=worker_name)
    lease_s: float = 60.0
    poll_s: float = 1.0
    max_attempts: int = 3
    alive_file: Path | None = None  # touched while the worker works (a liveness probe's)
    done: int = 0
    failed: int = 0

    def __post_init__(self) -> None:
        self.runtime.require_writer()
        self._store = self.runtime.state.jobs()
        self._staging = self.runtime.state.uploads()

    def run(self, stop: threading.Event, *, until_idle: bool = False) -> None:
        """Claim and run jobs until `stop` is set (a running job is then stopped at its next
        step and handed back); with `until_idle`, also once no job is waiting."""
        logger.info("worker %s: waiting for jobs", self.name)
        while not stop.is_set():
            self._alive()
            try:
                ran = self.run_once(stop)
            except DatabaseUnavailableError as exc:
                logger.warning("worker %s: %s; paused, trying again", self.name, exc)
                stop.wait(max(self.poll_s, 2.0))
                continue
            if ran is None:
                if until_idle:
                    return
                stop.wait(self.poll_s)

    def run_once(self, stop: threading.Event | None = None) -> JobRecord | None:
        """Claim one job and run it; None when there was none to claim."""
        claimed = self._store.claim(
            self.name, self.lease_s, time.time(), max_attempts=self.max_attempts
        )
        if claimed is None:
            return None
        job = claimed.job
        halt = threading.Event()
        watcher = _forward(stop, halt) if stop is not None else None
        logger.info("worker %s: job %s (%s, attempt %d)", self.name, job.id, job.kb, job.attempts)
        progress = StoredProgress(self._store, job.id, halt)
        try:
            with Heartbeat(
                self._store, job.id, self.name, self.lease_s, halt.set, on_beat=self._alive
            ):
                outcome = self._execute(job, progress)
                progress.save()
        finally:
            if watcher is not None:
                watcher.set()
        return self._end(job, outcome, stop)

    def _execute(self, job: JobRecord, progress: StoredProgress) -> _Outcome:
        try:
            if job.redo is None:
                raise RagError(f"job {job.id} is a {job.kind} job, not one a worker runs")
            kb = self.runtime.kb(job.kb)
            report = run_document_job(kb, self._staging, job.temp_dir, job.redo, progress)
        except JobStopped:
            return _Outcome("stopped", None, [])
        except DatabaseUnavailableError:
            raise  # paused, not failed: the job is claimed again when the database is back
        except KnowledgeBaseNotFoundError:
            return _Outcome("failed", f"knowledge base {job.kb!r} no longer exists", [])
        except RagError as exc:
            return _Outcome("failed", str(exc), [])
        except Exception as exc:  # noqa: BLE001 - one job's failure must not stop the worker
            logger.exception("job %s failed", job.id)
            return _Outcome("failed", f"internal error: {type(exc).__name__}: {exc}", [])
        return _Outcome("done", None, [result_row(r) for r in report.results])

    def _end(
        self, job: JobRecord, outcome: _Outcome, stop: threading.Event | None
    ) -> JobRecord | None:
        store = self._store
        if outcome.state == "stopped":
            now = store.get(job.id)
            if now is not None and now.cancel:
                store.finish(job.id, self.name, "failed", "cancelled", [], time.time())
            elif stop is not None and stop.is_set() and store.release(job.id, self.name):
                logger.info("worker %s: job %s handed back", self.name, job.id)
            return store.get(job.id)
        finished = store.finish(
            job.id, self.name, outcome.state, outcome.error, outcome.results, time.time()
        )
        if finished:
            self.done += outcome.state == "done"
            self.failed += outcome.state == "failed"
            if outcome.state == "done" and job.temp_dir:
                self._staging.discard(job.temp_dir)  # a failed job keeps them for a retry
        return store.get(job.id)

    def _alive(self) -> None:
        if self.alive_file is not None:
            self.alive_file.touch()

    def close(self) -> None:
        self._store.close()


@dataclass(frozen=True, slots=True)
class _Outcome:
    state: Literal["done", "failed", "stopped"]
    error: str | None
    results: list[dict[str, Any]]


def _forward(source: threading.Event, target: threading.Event) -> threading.Event:
    """Set `target` when `source` is set, until the returned event is set."""
    finished = threading.Event()

    def watch() -> None:
        while not finished.is_set():
            if source.wait(0.2):
                target.set()
                return

    threading.Thread(target=watch, name="job-stop", daemon=True).start()
    return finished
