"""A `http.server` handler served on a loopback port in a thread, for a test's stand-ins;
and waiting for a server a test started to answer."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

__all__ = ["serving", "wait_until_up"]


@contextmanager
def serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[int]:
    """Serve `handler` on 127.0.0.1 until the block ends; yields the port."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def wait_until_up(
    url: str, timeout_s: float, what: str, died: Callable[[], str | None] = lambda: None
) -> None:
    """Return once GET `url` answers 200. `died` says why the server's process is gone
    (None while it runs).

    Raises:
        RuntimeError: The process died, or `timeout_s` passed; the message names `what`.
    """
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        gone = died()
        if gone is not None:
            raise RuntimeError(f"{what} exited: {gone}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not start in {timeout_s} s")
