"""One real `rag serve` for the service tests (session-wide: the model loads once), with
API keys of three scopes, the tiny model from the real llama.cpp server, and three
knowledge bases: `default` (the example guide), `hr` and `it` (small policy documents)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.api_server import ApiServer
from tests.support.llama import MODEL

REPO = Path(__file__).resolve().parents[2]
GUIDE = REPO / "examples" / "guide"
DATA = Path(__file__).parent / "data"

ADMIN, WRITER, HR_READER = "admin-secret-1", "writer-secret-2", "hr-reader-secret-3"
KEYS = [
    ADMIN,
    {"key": WRITER, "role": "write"},
    {"key": HR_READER, "kbs": ["hr"], "role": "read"},
]


def model_settings(base_url: str, tokenizer: Path) -> dict[str, object]:
    return {
        "RAG_GENERATOR__BACKEND": "openai",
        "RAG_GENERATOR__BASE_URL": base_url,
        "RAG_GENERATOR__MODEL": MODEL,
        "RAG_GENERATOR__TOKENIZER": str(tokenizer),
        "RAG_GENERATOR__CONTEXT_WINDOW": "2048",
        "RAG_GENERATOR__PARAMS__MAX_TOKENS": "16",
        "RAG_GENERATOR__PARAMS__TEMPERATURE": "0",
        "RAG_GENERATOR__PARAMS__SEED": "1",
    }


def wait_job(client: httpx.Client, job_id: str, timeout_s: float = 180.0) -> dict[str, object]:
    """Poll a job until it is done or failed."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if job["state"] in ("done", "failed"):
            return dict(job)
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish in {timeout_s} s")


def upload(client: httpx.Client, kb: str, paths: list[Path]) -> dict[str, object]:
    """Upload files to a knowledge base and wait for the job."""
    files = [("files", (p.name, p.read_bytes())) for p in paths]
    response = client.post(f"/v1/kbs/{kb}/documents", files=files)
    assert response.status_code == 202, response.text
    return wait_job(client, response.json()["id"])


@pytest.fixture(scope="session")
def service(
    tmp_path_factory: pytest.TempPathFactory, llama_server: str, tiny_tokenizer: Path
) -> Iterator[ApiServer]:
    data_dir = tmp_path_factory.mktemp("service") / "index"
    settings = {"RAG_API__KEYS": KEYS, **model_settings(llama_server, tiny_tokenizer)}
    with ApiServer(data_dir, settings) as server, server.client(ADMIN) as client:
        guide = sorted(p for p in GUIDE.iterdir() if p.is_file())
        assert upload(client, "default", guide)["state"] == "done"
        for kb, description in (
            ("hr", "Human resources: leave, holidays, salaries, expenses"),
            ("it", "IT help desk: VPN, laptops, passwords, printers"),
        ):
            created = client.post("/v1/kbs", json={"name": kb, "description": description})
            assert created.status_code == 201, created.text
            job = upload(client, kb, sorted(DATA.glob(f"{kb}-*.md")))
            assert job["state"] == "done", job
        yield server
