"""The shared deployment as it runs on several machines: 2 `rag serve` and 2 `rag worker`
processes, each with its own empty data dir and temporary folder, sharing nothing but the
database URL (a real PostgreSQL 18 with pgvector: the state, the jobs, the uploads waiting
for their job and the vectors). Uploads go through one API process, questions through the
other; a worker that dies or hangs mid-job has its job finished by the other."""

from __future__ import annotations

import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.api_server import ApiServer
from tests.support.cluster import WorkerProcess, rag_cli

REPO = Path(__file__).resolve().parents[2]
GUIDE = REPO / "examples" / "guide"


@pytest.fixture(params=["pgvector"])
def settings(request: pytest.FixtureRequest, postgres_url: str) -> dict[str, str]:
    """The state in PostgreSQL; the vectors in pgvector, or (`milvus`) in a Milvus server
    (Milvus Lite's gRPC server, the named stand-in) with BM25 and fusion inside it."""
    if request.param == "pgvector":
        return {"RAG_DATABASE__URL": postgres_url, "RAG_STORE__BACKEND": "pgvector"}
    return {
        "RAG_DATABASE__URL": postgres_url,
        "RAG_STORE__BACKEND": "milvus",
        "RAG_STORE__URI": request.getfixturevalue("milvus_server"),
        "RAG_STORE__COLLECTION": f"c{uuid.uuid4().hex[:12]}",  # the server outlives the test
        "RAG_RETRIEVAL__MODE": "native_hybrid",
    }


BOTH_STORES = pytest.mark.parametrize("settings", ["pgvector", "milvus"], indirect=True)


@pytest.fixture
def apis(tmp_path: Path, settings: dict[str, str]) -> Iterator[tuple[ApiServer, ApiServer]]:
    first = ApiServer(tmp_path / "api1" / "data", settings, log=tmp_path / "api1.log")
    second = ApiServer(tmp_path / "api2" / "data", settings, log=tmp_path / "api2.log")
    with first, second:
        yield first, second


def _wait_job(client: httpx.Client, job_id: str, until: str = "finished", timeout_s: float = 240):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job: dict[str, Any] = client.get(f"/v1/jobs/{job_id}").raise_for_status().json()
        if until == "finished" and job["state"] in ("done", "failed"):
            return job
        if until == "running" and job["state"] == "running" and job["progress"]["done"] > 0:
            return job
        if until == "running" and job["state"] in ("done", "failed"):
            raise AssertionError(f"job {job_id} ended before it was seen running: {job}")
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} not {until} after {timeout_s} s: {job}")


def _files(count: int, tag: str) -> list[tuple[str, tuple[str, bytes, str]]]:
    """`count` distinct small text files."""
    return [
        (
            "files",
            (
                f"{tag}-{n:03d}.txt",
                f"Note {n} of batch {tag}. The {tag} harbour keeps lighthouse log {n}; "
                f"ships that call on day {n} unload grain and timber.\n".encode()
                * 3,
                "text/plain",
            ),
        )
        for n in range(count)
    ]


@BOTH_STORES
def test_upload_through_one_api_process_ask_and_delete_through_the_other(
    apis: tuple[ApiServer, ApiServer], tmp_path: Path, settings: dict[str, str]
) -> None:
    first, second = apis
    workers = [WorkerProcess(tmp_path / f"w{n}", settings, "--poll", "0.2") for n in (1, 2)]
    for worker in workers:
        worker.start()
    try:
        with first.client() as one, second.client() as two:
            created = one.post("/v1/kbs", json={"name": "hr", "description": "people"})
            assert created.status_code == 201, created.text
            assert "hr" in {kb["name"] for kb in two.get("/v1/kbs").json()["kbs"]}
            names = ["user-guide.md", "faq.html", "用户指南.md"]
            files = [("files", (n, (GUIDE / n).read_bytes(), "text/plain")) for n in names]
            accepted = one.post("/v1/kbs/hr/documents", files=files)
            assert accepted.status_code == 202, accepted.text
            job = _wait_job(two, accepted.json()["id"])  # read through the other process
            assert job["state"] == "done", job
            assert [f["status"] for f in job["files"]] == ["parsed"] * 3
            assert job["attempts"] == 1 and job["worker"]
            assert job["progress"]["done"] == job["progress"]["total"] == 3

            asked = two.post(
                "/v1/query", json={"question": "How do I remove a document?", "kb": "hr"}
            ).json()
            sources = {s["source"] for s in asked["sources"]}
            assert "user-guide.md" in sources
            guide = next(f for f in job["files"] if f["source"] == "user-guide.md")
            doc = f"/v1/kbs/hr/documents/{guide['doc_id']}"
            assert one.get(doc).status_code == 200
            assert two.delete(doc).status_code == 204
            assert one.get(doc).status_code == 404  # gone for the other process at once
            again = one.post(
                "/v1/query", json={"question": "How do I remove a document?", "kb": "hr"}
            ).json()
            assert "user-guide.md" not in {s["source"] for s in again["sources"]}
    finally:
        for worker in workers:
            worker.stop()
    # No process kept the index itself: every data dir holds no catalog, store or manifest.
    for folder in [tmp_path / "api1", tmp_path / "api2", tmp_path / "w1", tmp_path / "w2"]:
        kept = {p.name for p in folder.rglob("*")}
        assert not kept & {"catalog.sqlite", "manifest.json", "jobs.sqlite", "chroma"}, kept


@BOTH_STORES
@pytest.mark.parametrize("stop", ["SIGKILL", "SIGSTOP"])
def test_a_dead_or_hung_worker_has_its_job_finished_by_another(
    apis: tuple[ApiServer, ApiServer], tmp_path: Path, settings: dict[str, str], stop: str
) -> None:
    first, second = apis
    lease = ("--poll", "0.2", "--lease", "3")
    doomed = WorkerProcess(tmp_path / "doomed", settings, *lease, name="doomed").start()
    rescuer = WorkerProcess(tmp_path / "rescuer", settings, *lease, name="rescuer")
    try:
        with first.client() as one, second.client() as two:
            accepted = one.post("/v1/kbs/default/documents", files=_files(40, "north"))
            assert accepted.status_code == 202, accepted.text
            job_id = accepted.json()["id"]
            running = _wait_job(two, job_id, until="running")
            assert running["worker"] == "doomed"
            doomed.signal(getattr(signal, stop))
            rescuer.start()
            job = _wait_job(two, job_id)
            assert job["state"] == "done" and job["worker"] == "rescuer", job
            assert job["attempts"] == 2
            assert [f["status"] for f in job["files"]].count("failed") == 0
            if stop == "SIGSTOP":
                doomed.signal(signal.SIGCONT)  # wakes, learns the job is not its own any more
                time.sleep(3)
            listed = two.get("/v1/kbs/default/documents", params={"limit": 1000}).json()
            sources = [d["source"] for d in listed["documents"]]
            assert sorted(sources) == sorted(f"north-{n:03d}.txt" for n in range(40))
    finally:
        doomed.stop()
        rescuer.stop()
    checked = rag_cli(tmp_path / "doctor", settings, "doctor")
    assert checked.returncode == 0 and "consistent" in checked.stdout, checked.stdout


def test_a_worker_told_to_exit_when_idle_runs_what_waits_then_stops(
    tmp_path: Path, settings: dict[str, str]
) -> None:
    with ApiServer(tmp_path / "api" / "data", settings, log=tmp_path / "api.log") as api:
        with api.client() as client:
            files = [("files", ("faq.html", (GUIDE / "faq.html").read_bytes(), "text/html"))]
            accepted = client.post("/v1/kbs/default/documents", files=files)
            assert accepted.status_code == 202, accepted.text
            ran = rag_cli(tmp_path / "w", settings, "worker", "--exit-when-idle", timeout_s=240)
            assert ran.returncode == 0, ran.stderr
            assert ": 1 done, 0 failed" in ran.stderr.replace("\n", " "), ran.stderr
            job = client.get(f"/v1/jobs/{accepted.json()['id']}").json()
            assert job["state"] == "done" and job["files"][0]["status"] == "parsed", job


def test_an_unreachable_database_is_one_line_naming_it_without_its_password(
    tmp_path: Path,
) -> None:
    from tests.support.llama import free_port

    url = f"postgresql://rag:s3cret-pw@127.0.0.1:{free_port()}/rag"
    settings = {"RAG_DATABASE__URL": url, "RAG_STORE__BACKEND": "pgvector"}
    for command in (["serve", "--port", str(free_port())], ["worker"], ["stats"]):
        done = rag_cli(tmp_path / "data", settings, *command)
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        assert done.returncode != 0 and len(lines) == 1, done.stderr
        assert f"rag:***@127.0.0.1:{url.split(':')[-1]}" in lines[0], lines[0]
        assert "s3cret-pw" not in done.stderr + done.stdout and "Connection refused" in lines[0]


def test_the_database_going_away_gives_503_and_pauses_jobs_until_it_is_back(
    apis: tuple[ApiServer, ApiServer],
    tmp_path: Path,
    settings: dict[str, str],
    postgres_server: Any,
) -> None:
    first, _ = apis
    worker = WorkerProcess(tmp_path / "w", settings, "--poll", "0.2", "--lease", "3").start()
    worker.wait_ready()
    try:
        with first.client() as one:
            assert one.get("/v1/kbs").status_code == 200
            postgres_server.stop()
            try:
                away = one.get("/v1/kbs")
                assert away.status_code == 503, away.text
                assert away.json()["error"]["code"] == "database_unavailable"
                assert away.headers["Retry-After"] == "5"
                refused = one.post("/v1/kbs/default/documents", files=_files(2, "away"))
                assert refused.status_code == 503
                time.sleep(4)  # the worker polls a database that is not there
                assert worker.alive()
            finally:
                postgres_server.start()
            deadline = time.monotonic() + 60
            while one.get("/v1/kbs").status_code != 200:  # back by itself
                assert time.monotonic() < deadline, "the API did not recover"
                time.sleep(0.5)
            accepted = one.post("/v1/kbs/default/documents", files=_files(3, "back"))
            assert accepted.status_code == 202, accepted.text
            job = _wait_job(one, accepted.json()["id"])
            assert job["state"] == "done" and job["attempts"] == 1, job
    finally:
        worker.stop()
    assert "Traceback" not in worker.log.read_text()


def test_a_small_upload_is_not_held_back_by_a_1000_file_one(
    apis: tuple[ApiServer, ApiServer], tmp_path: Path, settings: dict[str, str]
) -> None:
    """One worker, 1000 files for `big` (10 jobs of 100, api.max_files), then 1 file for
    `small`: the small job runs next after the big job running now, not after all ten.
    Bound: the rest of one job of the other knowledge base (at most api.max_files files)
    plus its own; printed with the figures."""
    first, second = apis
    worker = WorkerProcess(tmp_path / "w", settings, "--poll", "0.2").start()
    try:
        with first.client() as one, second.client() as two:
            for name in ("big", "small"):
                assert one.post("/v1/kbs", json={"name": name}).status_code == 201
            big = [
                one.post("/v1/kbs/big/documents", files=_files(100, f"big{n}")).json()["id"]
                for n in range(10)
            ]
            started = _wait_job(two, big[0], until="running")["worker"]
            assert started
            asked = time.monotonic()
            small = two.post("/v1/kbs/small/documents", files=_files(1, "small")).json()["id"]
            done = _wait_job(one, small)
            waited = time.monotonic() - asked
            assert done["state"] == "done"
            states = [two.get(f"/v1/jobs/{j}").json() for j in big]
            finished = [s for s in states if s["state"] == "done"]
            assert len(finished) <= 2, [s["state"] for s in states]  # the running one (+1)
            assert sum(s["state"] == "queued" for s in states) >= 8
            first_big = finished[0]
            took = _seconds(first_big["finished_at"]) - _seconds(first_big["created_at"])
            print(
                f"\nfairness: 1-file job done {waited:.1f} s after upload, behind a "
                f"100-file job that took {took:.0f} s from upload to done; "
                f"{len(finished)} of 10 big jobs done by then"
            )
            for job in big:  # let the worker go
                two.post(f"/v1/jobs/{job}/cancel")
    finally:
        worker.stop()


def _seconds(stamp: str) -> float:
    from datetime import datetime

    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").timestamp()
