"""Bounded concurrency: a few requests run, a bounded queue waits, the rest get 429.

Blocking work (embedding, search, model calls through sync clients) runs in the app's
thread pool, never on the event loop. A `Gate` lets `slots` requests in at once; up to
`queue_size` more wait (each at most `timeout_s`); beyond that a request is refused at
once with `429 overloaded` and a `Retry-After`, so an overloaded server answers quickly
instead of hanging.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from api.errors import ApiError
from api.metrics import Metrics

__all__ = ["Gate"]


class Gate:
    """`async with gate.slot():` around work that must be bounded."""

    def __init__(
        self, name: str, slots: int, queue_size: int, timeout_s: float, metrics: Metrics
    ) -> None:
        self.name, self.slots, self.queue_size, self.timeout_s = name, slots, queue_size, timeout_s
        self._semaphore = asyncio.Semaphore(slots)
        self._waiting = 0
        self._metrics = metrics

    @property
    def waiting(self) -> int:
        return self._waiting

    def _refuse(self, why: str) -> ApiError:
        self._metrics.rejected.labels(self.name).inc()
        retry = max(1, math.ceil(self.timeout_s / 4))
        return ApiError(
            "overloaded",
            f"the server is busy ({why}: {self.slots} {self.name} running, {self._waiting} "
            f"waiting); retry after {retry} s",
            {"Retry-After": str(retry)},
        )

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        if self._semaphore.locked() and self._waiting >= self.queue_size:
            raise self._refuse("queue full")
        self._waiting += 1
        self._metrics.gate_waiting.labels(self.name).set(self._waiting)
        try:
            await asyncio.wait_for(self._semaphore.acquire(), self.timeout_s)
        except TimeoutError:
            raise self._refuse(f"no slot within {self.timeout_s:g} s") from None
        finally:
            self._waiting -= 1
            self._metrics.gate_waiting.labels(self.name).set(self._waiting)
        self._metrics.gate_active.labels(self.name).inc()
        try:
            yield
        finally:
            self._metrics.gate_active.labels(self.name).dec()
            self._semaphore.release()
