"""`POST /v1/jobs/{id}/cancel` and `/retry` over real `rag serve` processes, in both
profiles: embedded (the server's own writer runs the job) and shared (a `rag worker` on
PostgreSQL runs it). A cancelled job stops at its next file, what it wrote stays whole; a
failed job runs again from the uploads it kept."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.api_server import ApiServer
from tests.support.cluster import WorkerProcess

N = 300  # files in the job: it runs long enough to be cancelled midway


@pytest.fixture(params=["embedded", "shared"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ApiServer]:
    settings = {"RAG_API__MAX_FILES": "400"}  # one long job
    worker = None
    if request.param == "shared":
        url = request.getfixturevalue("postgres_url")
        settings.update(RAG_DATABASE__URL=url, RAG_STORE__BACKEND="pgvector")
        worker = WorkerProcess(tmp_path / "worker", settings, "--poll", "0.2").start()
        worker.wait_ready()
    try:
        with ApiServer(tmp_path / "data", settings) as api:
            yield api
    finally:
        if worker is not None:
            worker.stop()


def _files(count: int, tag: str) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [
        (
            "files",
            (
                f"{tag}-{n:03d}.txt",
                (
                    f"Record {n} of the {tag} archive: the ferry timetable for pier {n}. " * 4
                ).encode(),
                "text/plain",
            ),
        )
        for n in range(count)
    ]


def _wait(client: httpx.Client, job_id: str, done: Any, timeout_s: float = 240) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job: dict[str, Any] = client.get(f"/v1/jobs/{job_id}").json()
        if done(job):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id}: {job}")


def test_a_running_job_is_cancelled_then_retried_to_the_end(server: ApiServer) -> None:
    with server.client() as client:
        accepted = client.post("/v1/kbs/default/documents", files=_files(N, "south"))
        assert accepted.status_code == 202, accepted.text
        job_id = accepted.json()["id"]
        _wait(client, job_id, lambda j: j["state"] == "running" and j["progress"]["done"] >= 1)
        cancelled = client.post(f"/v1/jobs/{job_id}/cancel")
        assert cancelled.status_code == 200, cancelled.text
        stopped = _wait(client, job_id, lambda j: j["state"] in ("done", "failed"))
        assert stopped["state"] == "failed" and stopped["error"] == "cancelled", stopped
        listed = client.get("/v1/kbs/default/documents", params={"limit": 1000}).json()
        assert listed["total"] < N  # stopped before the end; each written document whole
        finished = client.post(f"/v1/jobs/{job_id}/cancel")
        assert finished.status_code == 409 and finished.json()["error"]["code"] == "job_finished"

        retried = client.post(f"/v1/jobs/{job_id}/retry")
        assert retried.status_code == 202, retried.text
        done = _wait(client, job_id, lambda j: j["state"] in ("done", "failed"))
        assert done["state"] == "done" and done["attempts"] == 1, done
        assert len(done["files"]) == N and not [f for f in done["files"] if f["status"] == "failed"]
        listed = client.get("/v1/kbs/default/documents", params={"limit": 1000}).json()
        assert sorted(d["source"] for d in listed["documents"]) == [
            f"south-{n:03d}.txt" for n in range(N)
        ]
        again = client.post(f"/v1/jobs/{job_id}/retry")
        assert again.status_code == 409 and again.json()["error"]["code"] == "job_not_retryable"
        assert client.post("/v1/jobs/nope/cancel").status_code == 404
