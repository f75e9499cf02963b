"""The HTTP protocol `rag serve` runs: uvicorn's, with a deadline for request headers.

uvicorn closes an idle keep-alive connection after a response, but a connection that sends
nothing, or trickles its request line and headers a byte at a time ("slowloris"), is held
open for ever, one file descriptor and one slot each. Here the request line and headers
must arrive within `api.header_timeout_s` of the connection or of the previous response;
past it the connection is closed. (The body has its own deadline: `api.middleware`.)
"""

from __future__ import annotations

import asyncio
from asyncio import TimerHandle
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["HeaderDeadlineProtocol", "guarded_protocol"]


class HeaderDeadlineProtocol(H11Protocol):
    """uvicorn's h11 protocol, closing a connection whose request headers are late."""

    header_timeout_s = 10.0
    _deadline: TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        serving = self.cycle is not None and not self.cycle.response_complete
        if serving and self._deadline is not None:
            self._deadline.cancel()  # the request's headers are in: it is being served
            self._deadline = None

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm()  # the next request on this connection gets the same deadline

    def connection_lost(self, exc: Exception | None) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        super().connection_lost(exc)

    def _arm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self._deadline = self.loop.call_later(self.header_timeout_s, self._expire)

    def _expire(self, *args: Any) -> None:
        self._deadline = None
        idle = self.cycle is None or self.cycle.response_complete
        if idle and not self.transport.is_closing():
            self.transport.close()


def guarded_protocol(header_timeout_s: float) -> type[HeaderDeadlineProtocol]:
    """The protocol with this deadline (pass as `uvicorn.run(http=...)`)."""
    return type(
        "HeaderDeadlineProtocol", (HeaderDeadlineProtocol,), {"header_timeout_s": header_timeout_s}
    )
