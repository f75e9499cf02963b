"""Overload, cancellation and degradation, against a server with its own llama.cpp model
server that the tests stop: 429 with Retry-After beyond the queue, a disconnected client's
generation stopped, the extractive answer (degraded) or 503 when the model is down."""

from __future__ import annotations

import concurrent.futures
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from httpx_sse import connect_sse

from tests.api.conftest import ADMIN, GUIDE, model_settings, upload
from tests.support.api_server import ApiServer
from tests.support.llama import free_port, start_server, wait_ready

QUESTION = "How do I remove a document from the index?"


@pytest.fixture(scope="module")
def setup(
    tmp_path_factory: pytest.TempPathFactory, tiny_gguf: Path, tiny_tokenizer: Path
) -> Iterator[tuple[ApiServer, object]]:
    port = free_port()
    llama = start_server(tiny_gguf, port, queue=True)
    try:
        wait_ready(port)
        settings = {
            "RAG_API__KEYS": [ADMIN],
            **model_settings(f"http://127.0.0.1:{port}/v1", tiny_tokenizer),
            "RAG_GENERATOR__RETRIES": "0",
            "RAG_GENERATOR__CONNECT_TIMEOUT_S": "1",
            "RAG_API__MAX_CONCURRENT_GENERATIONS": "1",
            "RAG_API__QUEUE_SIZE": "1",
            "RAG_API__QUEUE_TIMEOUT_S": "3",
        }
        data_dir = tmp_path_factory.mktemp("degraded") / "index"
        with ApiServer(data_dir, settings) as server, server.client(ADMIN) as client:
            assert upload(client, "default", [GUIDE / "user-guide.md"])["state"] == "done"
            yield server, llama
    finally:
        llama.terminate()
        llama.wait(timeout=10)


def _metric(server: ApiServer, name: str) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    with server.client(ADMIN) as client:
        text = client.get("/metrics").text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                return float(sample.value)
    return 0.0


def test_beyond_the_queue_requests_get_429(setup: tuple[ApiServer, object]) -> None:
    server, _ = setup
    body = {"question": QUESTION, "generation": {"max_tokens": 300, "temperature": 1.0}}

    def ask(_: int) -> httpx.Response:
        with server.client(ADMIN, timeout=120) as client:
            return client.post("/v1/query", json=body)

    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        replies = list(pool.map(ask, range(6)))
    statuses = sorted(r.status_code for r in replies)
    refused = [r for r in replies if r.status_code == 429]
    assert 200 in statuses and refused, statuses
    assert set(statuses) <= {200, 429}
    assert all(r.headers["retry-after"].isdigit() for r in refused)
    assert refused[0].json()["error"]["code"] == "overloaded"


def test_a_client_that_leaves_stops_its_generation(setup: tuple[ApiServer, object]) -> None:
    server, _ = setup
    before = _metric(server, "rag_generations_cancelled_total")
    with server.client(ADMIN, timeout=60) as client:
        generation = {"max_tokens": 600, "temperature": 1.0}
        body = {"question": QUESTION, "stream": True, "generation": generation}
        with connect_sse(client, "POST", "/v1/query", json=body) as source:
            for event in source.iter_sse():
                if event.event == "token":
                    break  # leave mid-answer: the connection closes
    deadline = time.monotonic() + 10
    while (
        time.monotonic() < deadline and _metric(server, "rag_generations_cancelled_total") <= before
    ):
        time.sleep(0.2)
    assert _metric(server, "rag_generations_cancelled_total") > before
    # The slot is free and the model server is not busy finishing the abandoned answer
    # (llama.cpp's server runs one request at a time: 600 more tokens would take a while).
    started = time.monotonic()
    with server.client(ADMIN, timeout=60) as client:
        assert client.post("/v1/query", json={"question": QUESTION}).status_code == 200
    print(f"next answer after leaving: {time.monotonic() - started:.1f} s")


def test_model_down_degrades_to_the_extractive_answer(setup: tuple[ApiServer, object]) -> None:
    server, llama = setup
    llama.terminate()  # type: ignore[attr-defined]
    llama.wait(timeout=10)  # type: ignore[attr-defined]
    with server.client(ADMIN, timeout=60) as client:
        body = client.post("/v1/query", json={"question": QUESTION}).json()
        assert body["degraded"] and "rag delete" in body["answer"], body
        assert any("could not be reached" in w for w in body["warnings"])
        required = client.post(
            "/v1/query", json={"question": QUESTION, "generation": {"required": True}}
        )
        assert required.status_code == 503
        assert required.json()["error"]["code"] == "model_unavailable"
        with connect_sse(
            client,
            "POST",
            "/v1/query",
            json={"question": QUESTION, "stream": True, "generation": {"required": True}},
        ) as source:
            events = [(e.event, json.loads(e.data)) for e in source.iter_sse()]
        assert events[0][0] == "sources" and events[-1][0] == "error"
        assert events[-1][1]["error"]["code"] == "model_unavailable"
        chat = client.post(
            "/v1/chat/completions",
            json={"model": "rag:default", "messages": [{"role": "user", "content": QUESTION}]},
        ).json()
        assert chat["degraded"] and chat["references"]
        deadline = time.monotonic() + 15
        ready = client.get("/readyz").json()
        while ready["status"] != "degraded" and time.monotonic() < deadline:
            time.sleep(1)
            ready = client.get("/readyz").json()
        assert ready["status"] == "degraded" and ready["checks"]["generator"] == "unreachable"
    assert _metric(server, "rag_degraded_answers_total") >= 2
