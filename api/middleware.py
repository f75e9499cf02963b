"""The ASGI layer in front of every route: request id, authentication, body limit, metrics.

It runs before the body is read, so a request without a valid key, or one whose
`Content-Length` is over the limit, is answered without reading (or spooling to disk) a
byte of its body; a body without a length is counted as it streams and cut at the limit.
It only says who the key is: what the key may do is declared by each route (`api.scopes`).
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from api.auth import KeyRing, Principal, presented_key
from api.errors import CODES
from api.metrics import Metrics

__all__ = ["REQUEST_ID", "RequestContext", "error_body", "principal_of"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
_VALID_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

logger = logging.getLogger("api.access")


def error_body(code: str, message: str, request_id: str) -> bytes:
    return json.dumps(
        {"error": {"code": code, "message": message, "request_id": request_id}}
    ).encode()


class _TooSlow(Exception):
    """The client sent no more of its body within `api.body_timeout_s`."""


class _TooLarge(Exception):
    pass


class RequestContext:
    """Pure ASGI middleware (no body buffering, streaming responses pass through)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        keys: KeyRing,
        public: frozenset[str],
        public_prefixes: tuple[str, ...] = (),
        max_body: int,
        metrics: Metrics,
        body_timeout_s: float = 30.0,
    ) -> None:
        self.app, self.keys, self.public = app, keys, public
        self.public_prefixes = public_prefixes
        self.max_body, self.metrics = max_body, metrics
        self.body_timeout_s = body_timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        given = headers.get("x-request-id", "")
        request_id = given if _VALID_ID.match(given) else uuid.uuid4().hex
        token = REQUEST_ID.set(request_id)
        scope.setdefault("state", {})["request_id"] = request_id
        exchange = _Exchange(self, receive, send, request_id)
        started = time.perf_counter()
        try:
            refusal = self._refusal(scope, headers, scope["method"], scope["path"])
            if refusal is not None:
                exchange.status = CODES[refusal[0]]
                await self.reject(send, *refusal, request_id)
                return
            try:
                await self.app(scope, exchange.receive, exchange.send)
            except _TooLarge:
                await exchange.too_large()
            except _TooSlow:
                await exchange.too_slow()
            if exchange.over:
                exchange.status = 413
        finally:
            self._record(scope, exchange.status, time.perf_counter() - started, request_id)
            REQUEST_ID.reset(token)

    def _record(self, scope: Scope, status: int, elapsed: float, request_id: str) -> None:
        route = scope.get("route")
        template = getattr(route, "path", "unmatched")
        method = scope["method"]
        self.metrics.requests.labels(template, method, str(status)).inc()
        self.metrics.request_seconds.labels(template, method).observe(elapsed)
        logger.info(
            "%s %s %s %.1f ms request_id=%s",
            method,
            scope["path"],
            status,
            elapsed * 1000,
            request_id,
        )

    def too_big(self) -> str:
        return (
            f"the request body is over the limit of {self.max_body / 1e6:g} MB "
            "(api.max_body_mb); send fewer or smaller files per request"
        )

    def _refusal(
        self, scope: Scope, headers: dict[str, str], method: str, path: str
    ) -> tuple[str, str] | None:
        """(code, message) when the request is refused before the app sees it."""
        length = headers.get("content-length")
        if length is not None:
            if not length.isdigit():
                return "invalid_request", "the Content-Length header is not a number"
            if int(length) > self.max_body:
                return "payload_too_large", self.too_big()
        if path in self.public or path.startswith(self.public_prefixes):
            scope["state"]["principal"] = None
            return None
        principal = self.keys.authenticate(presented_key(headers))
        if principal is None:
            return (
                "unauthorized",
                "a valid API key is needed: send `Authorization: Bearer KEY` or `X-API-Key: KEY`",
            )
        scope["state"]["principal"] = principal
        return None

    async def reject(self, send: Send, code: str, message: str, request_id: str) -> None:
        """Answer with a JSON error without running the app."""
        status = CODES[code]
        body = error_body(code, message, request_id)
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"x-request-id", request_id.encode()),
            (b"connection", b"close"),
        ]
        if status == 401:
            headers.append((b"www-authenticate", b"Bearer"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


class _Exchange:
    """One request's passage through the middleware: its body counted as it is read, the
    response's status seen (and replaced by a 413 when the body went over the limit)."""

    def __init__(self, outer: RequestContext, receive: Receive, send: Send, request_id: str):
        self._outer, self._receive, self._send = outer, receive, send
        self._request_id = request_id
        self.status, self.started, self.replaced = 500, False, False
        self.bytes, self.over, self.body_done, self.slow = 0, False, False, False

    async def receive(self) -> Message:
        if self.body_done:  # waiting for a disconnect (a streamed answer): no deadline
            return await self._receive()
        try:
            message = await asyncio.wait_for(self._receive(), self._outer.body_timeout_s)
        except TimeoutError:
            self.slow = True
            raise _TooSlow from None
        self.body_done = message["type"] != "http.request" or not message.get("more_body")
        if message["type"] == "http.request":
            self.bytes += len(message.get("body", b""))
            if self.bytes > self._outer.max_body:
                self.over = True
                raise _TooLarge
        return message

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            if self.over:  # the app answered a body cut at the limit: say why instead
                await self.too_large()
                return
            if self.slow:  # the app answered a body that stopped coming: say why instead
                await self.too_slow()
                return
            self.status, self.started = message["status"], True
            message["headers"] = [
                *message.get("headers", []),
                (b"x-request-id", self._request_id.encode()),
            ]
        elif self.replaced:
            return
        await self._send(message)

    async def too_large(self) -> None:
        if self.started or self.replaced:
            return
        self.replaced, self.status = True, 413
        outer = self._outer
        await outer.reject(self._send, "payload_too_large", outer.too_big(), self._request_id)

    async def too_slow(self) -> None:
        if self.started or self.replaced:
            return
        self.replaced, self.status = True, 408
        message = (
            f"the request body stopped arriving for {self._outer.body_timeout_s:g} s "
            "(api.body_timeout_s); send it at once"
        )
        await self._outer.reject(self._send, "request_timeout", message, self._request_id)


def principal_of(scope: Scope) -> Principal | None:
    """The principal the middleware authenticated for this request."""
    state = scope.get("state", {})
    found: Principal | None = state.get("principal")
    return found
