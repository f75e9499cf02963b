"""The writer's job queue through the state's job store: claimed, leased and finished
there; a job queued when the writer stops is failed there too, not run again later."""

from __future__ import annotations

import threading
from pathlib import Path

from api.jobs import Job, JobQueue
from api.metrics import Metrics
from ingest.run import FileResult, IngestReport
from rag.state.sqlite_jobs import SqliteJobStore


def test_jobs_are_claimed_run_and_finished_in_the_store(tmp_path: Path) -> None:
    store_path = tmp_path / "jobs.sqlite"
    gate = threading.Event()

    def slow(job: Job) -> IngestReport:
        gate.wait(30)
        return IngestReport([FileResult("a.md", "parsed", 2, "", "sha256:a")])

    queue = JobQueue(Metrics(), store=SqliteJobStore(store_path), worker="writer")
    running = queue.submit(Job("default", "ingest", slow))
    waiting = queue.submit(Job("default", "ingest", lambda job: None))
    try:
        seen = SqliteJobStore(store_path)  # another handle, as another process would read
        for _ in range(100):
            record = seen.get(running.id)
            if record is not None and record.state == "running":
                break
            threading.Event().wait(0.05)
        assert record is not None and record.worker == "writer" and record.attempts == 1
        queued = seen.get(waiting.id)
        assert queued is not None and queued.state == "queued"
    finally:
        queue.close(wait_s=0)  # the writer stops while `waiting` is still queued
        gate.set()
    running.finished.wait(30)
    failed = seen.get(waiting.id)
    assert failed is not None and failed.state == "failed" and "shut down" in (failed.error or "")
    done = seen.get(running.id)
    assert done is not None and done.state == "done" and done.results[0]["doc_id"] == "sha256:a"
    assert seen.unfinished() == []  # nothing for a restarted writer to run again
    seen.close()
