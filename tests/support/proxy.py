"""A recording proxy in front of a real model server: every request body the service sends
to the model is kept (`Proxy.bodies`), so a test can check what text the model was given.
Responses, streamed ones included, are passed through as they arrive."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from urllib.parse import urlsplit

import httpx

from tests.support.loopback import serving

__all__ = ["Proxy", "recording_proxy"]


@dataclass
class Proxy:
    url: str = ""  # the upstream's base URL, on the proxy's port
    bodies: list[str] = field(default_factory=list)


@contextmanager
def recording_proxy(upstream: str) -> Iterator[Proxy]:
    """A loopback proxy to `upstream` (a base URL such as `http://127.0.0.1:PORT/v1`)."""
    parts = urlsplit(upstream)
    origin = f"{parts.scheme}://{parts.netloc}"
    seen = Proxy()
    client = httpx.Client(base_url=origin, timeout=120)

    class Handler(BaseHTTPRequestHandler):
        def _forward(self, body: bytes | None) -> None:
            if body is not None:
                seen.bodies.append(body.decode("utf-8", "replace"))
            headers = {"content-type": self.headers.get("content-type", "application/json")}
            with client.stream(self.command, self.path, content=body, headers=headers) as reply:
                self.send_response(reply.status_code)
                self.send_header("content-type", reply.headers.get("content-type", ""))
                self.end_headers()  # HTTP/1.0: the body ends when the connection closes
                for chunk in reply.iter_raw():
                    self.wfile.write(chunk)
                    self.wfile.flush()

        def do_GET(self) -> None:  # noqa: N802 - the http.server hook's name
            self._forward(None)

        def do_POST(self) -> None:  # noqa: N802
            self._forward(self.rfile.read(int(self.headers.get("content-length") or 0)))

        def log_message(self, *args: object) -> None:
            return

    with serving(Handler) as port, client:
        seen.url = f"http://127.0.0.1:{port}{parts.path}"
        yield seen
