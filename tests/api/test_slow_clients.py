"""Hostile requests at a real `rag serve`: an idle connection, headers trickled a byte at a
time and a body that stops coming are cut by deadlines, not held for ever; a JSON body
nested 100 000 deep is refused cheaply; the service keeps answering."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import pytest

from tests.support.api_server import ApiServer

DEADLINE_S = 1.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    settings = {
        "RAG_API__HEADER_TIMEOUT_S": str(DEADLINE_S),
        "RAG_API__BODY_TIMEOUT_S": str(DEADLINE_S),
    }
    with ApiServer(tmp_path_factory.mktemp("slow") / "index", settings) as running:
        yield running


def _connect(server: ApiServer) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port))
    sock.settimeout(10 * DEADLINE_S)
    return sock


def _closed_within(sock: socket.socket) -> float:
    """Seconds until the server closes the connection (reads whatever it sends first)."""
    started = time.monotonic()
    while sock.recv(65536):
        pass
    return time.monotonic() - started


def test_an_idle_connection_is_closed(server: ApiServer) -> None:
    with _connect(server) as sock:
        assert _closed_within(sock) < 3 * DEADLINE_S


def test_headers_trickled_byte_by_byte_are_cut(server: ApiServer) -> None:
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"a" * 100
    started, cut = time.monotonic(), False
    with _connect(server) as sock:
        try:
            for byte in request:  # 140 bytes, 0.1 s apart: 14 s if nobody cuts it
                sock.send(bytes([byte]))
                time.sleep(0.1)
            cut = sock.recv(100) == b""
        except (BrokenPipeError, ConnectionResetError):
            cut = True
    assert cut, "the server answered or held a request whose headers took 14 s"
    assert time.monotonic() - started < 4 * DEADLINE_S + 1


def test_a_body_that_stops_coming_gets_408(server: ApiServer) -> None:
    body = b'{"question": "'
    head = (
        b"POST /v1/retrieve HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1000\r\n\r\n"
    )
    with _connect(server) as sock:
        sock.sendall(head + body)
        started = time.monotonic()
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
        waited = time.monotonic() - started
    assert reply.startswith(b"HTTP/1.1 408"), reply[:200]
    error = json.loads(reply.split(b"\r\n\r\n", 1)[1])["error"]
    assert error["code"] == "request_timeout" and "body_timeout_s" in error["message"]
    assert waited < 3 * DEADLINE_S


def test_deeply_nested_json_is_refused_cheaply(server: ApiServer) -> None:
    nested = "[" * 100_000 + "]" * 100_000
    with server.client() as client:
        started = time.monotonic()
        response = client.post(
            "/v1/retrieve", content=nested, headers={"content-type": "application/json"}
        )
        elapsed = time.monotonic() - started
        assert response.status_code in (400, 422), response.text[:300]
        assert response.json()["error"]["code"] in ("validation_error", "invalid_request")
        assert elapsed < 2.0
        assert client.get("/healthz").status_code == 200


def test_keep_alive_still_serves_requests_in_turn(server: ApiServer) -> None:
    with server.client() as client:
        for _ in range(3):
            assert client.get("/healthz").status_code == 200
            time.sleep(DEADLINE_S / 2)
