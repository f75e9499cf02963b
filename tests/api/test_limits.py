"""Body limits enforced before the body is read, and the server's memory while refusing."""

from __future__ import annotations

import socket
import time

import httpx

from tests.api.conftest import ADMIN
from tests.support.api_server import ApiServer, rss_mb


def _raw(port: int, head: bytes, wait_s: float = 30) -> bytes:
    """Send the headers alone and read the reply (nothing unread is left on the server's
    side, so its close cannot reset the connection before the reply is read)."""
    with socket.create_connection(("127.0.0.1", port)) as raw:
        raw.sendall(head)
        raw.settimeout(wait_s)
        reply = b""
        while block := raw.recv(65536):  # until the server closes (Connection: close)
            reply += block
        return reply


def test_an_oversized_declared_body_is_refused_unread(service: ApiServer) -> None:
    before = rss_mb(service.pid)
    uploads = service.data_dir / "uploads"
    stored = len(list(uploads.iterdir())) if uploads.exists() else 0
    head = (
        f"POST /v1/kbs/it/documents HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ADMIN}\r\n"
        "Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 2000000000\r\n\r\n"
    ).encode()
    started = time.monotonic()
    reply = _raw(service.port, head)
    assert reply.startswith(b"HTTP/1.1 413"), reply[:300]
    assert b"payload_too_large" in reply and time.monotonic() - started < 10
    assert (len(list(uploads.iterdir())) if uploads.exists() else 0) == stored
    assert rss_mb(service.pid) < before + 50  # nothing of the 2 GB it announced


def test_a_chunked_body_is_cut_at_the_limit(service: ApiServer) -> None:
    """No Content-Length: the body is counted as it streams (limit 100 MB by default; the
    client stops once answered)."""
    before = rss_mb(service.pid)
    sent = 0

    def body():  # type: ignore[no-untyped-def]
        nonlocal sent
        block = b'--b\r\nContent-Disposition: form-data; name="files"; filename="a.md"\r\n\r\n'
        yield block
        chunk = b"y" * (1 << 20)
        for _ in range(140):
            sent += len(chunk)
            yield chunk

    with httpx.Client(base_url=service.url, timeout=60) as client:
        try:
            response = client.post(
                "/v1/kbs/it/documents",
                content=body(),
                headers={
                    "Authorization": f"Bearer {ADMIN}",
                    "Content-Type": "multipart/form-data; boundary=b",
                },
            )
            status = response.status_code
            assert response.json()["error"]["code"] == "payload_too_large"
        except httpx.HTTPError:
            status = 413  # the server closed the connection while the client was sending
    assert status == 413
    assert sent <= 140 << 20
    assert rss_mb(service.pid) < before + 150  # never the whole body in memory
