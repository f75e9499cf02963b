"""A `rag serve` killed with SIGKILL in the middle of an upload job: no document is partly
visible, and the restarted server runs the job again to the end (the job queue persists);
a job whose files are gone is marked failed with the reason."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

from rag.config import RagConfig
from rag.doctor import check_index
from tests.api.conftest import wait_job
from tests.conftest import DATA
from tests.support.api_server import ApiServer
from tests.support.app import opened
from tests.support.crash import partial_documents, write_corpus


def _upload(client: Any, files: list[Path]) -> str:
    response = client.post(
        "/v1/kbs/default/documents", files=[("files", (p.name, p.read_bytes())) for p in files]
    )
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def _kill_mid_job(server: ApiServer, client: Any, job_id: str) -> int:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if job["progress"]["done"] >= 3:
            break
        assert job["state"] in ("queued", "running"), job
        time.sleep(0.05)
    server.process.kill()  # type: ignore[union-attr]
    server.process.wait()  # type: ignore[union-attr]
    server.process = None
    return int(job["progress"]["done"])


def test_server_killed_mid_job_restarts_it(tmp_path: Path, embedder: Any) -> None:
    scifact = DATA / "beir" / "scifact"
    corpus = write_corpus(tmp_path / "docs", scifact if scifact.is_dir() else None, 30)
    files = sorted(corpus.iterdir())
    data_dir = tmp_path / "index"
    config = RagConfig(data_dir=data_dir)
    server = ApiServer(data_dir, {"RAG_EMBEDDER__BATCH_SIZE": "4"})
    with server, server.client() as client:
        job_id = _upload(client, files)
        done_before = _kill_mid_job(server, client, job_id)
    assert partial_documents(config, embedder) == []
    with ApiServer(data_dir) as again, again.client() as client:
        job = wait_job(client, job_id, timeout_s=300)
        listed = client.get("/v1/kbs/default/documents", params={"limit": 500}).json()
    assert job["state"] == "done", job
    statuses = sorted(f["status"] for f in job["files"])
    assert statuses.count("parsed") + statuses.count("skipped") == len(files), statuses
    assert listed["total"] == len(files)
    assert not any((data_dir / "uploads").iterdir())
    with opened(config, model=False) as app:
        assert check_index(app.index, "default").findings == []
        assert app.index.stores[0].count() == app.index.count_chunks()  # no duplicates
    print(f"killed after {done_before} of {len(files)} files; the restarted job finished")


def test_a_job_whose_files_are_gone_is_marked_failed(tmp_path: Path) -> None:
    data_dir = tmp_path / "index"
    files = sorted((Path(__file__).parents[2] / "examples" / "guide").iterdir())
    server = ApiServer(data_dir)
    with server, server.client() as client:
        job_id = _upload(client, files * 20)  # long enough to be caught running
        _kill_mid_job(server, client, job_id)
    for folder in (data_dir / "uploads").iterdir():
        shutil.rmtree(folder)
    with ApiServer(data_dir) as again, again.client() as client:
        job = client.get(f"/v1/jobs/{job_id}").json()
    assert job["state"] == "failed"
    assert "killed or crashed" in job["error"]
