"""Retries with back-off, and a circuit breaker, for calls to a model server.

A call that fails with a retryable error (connection refused or reset, timeout, 429, 503) is
tried again `retries` times, waiting `backoff_s`, then twice that, and so on. After
`failures` failed calls in a row the breaker opens: calls fail at once, without touching the
network, for `reset_s` seconds; then one call is let through, and its success closes it.

Example:
    >>> breaker = CircuitBreaker(failures=3, reset_s=30)
    >>> call_with_retries(lambda: "ok", retries=2, backoff_s=0.1, breaker=breaker)
    'ok'
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from rag.errors import ModelUnreachableError

__all__ = ["CircuitBreaker", "Retryable", "call_sorted", "call_with_retries"]

logger = logging.getLogger(__name__)

T = TypeVar("T")


class Retryable(Exception):
    """Raised by a call to ask for another try; `cause` is what went wrong."""

    def __init__(self, cause: Exception) -> None:
        super().__init__(str(cause))
        self.cause = cause


class CircuitBreaker:
    """Counts failed calls in a row; open means calls are refused until `reset_s` passed."""

    def __init__(
        self, failures: int, reset_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._limit, self._reset_s, self._clock = failures, reset_s, clock
        self._failed = 0
        self._opened_at: float | None = None

    @property
    def is_open(self) -> bool:
        """True while calls are refused."""
        if self._opened_at is None:
            return False
        return self._clock() - self._opened_at < self._reset_s

    def check(self, what: str) -> None:
        """Raise at once while the breaker is open.

        Raises:
            ModelUnreachableError: The breaker is open.
        """
        if self.is_open:
            assert self._opened_at is not None
            left = self._reset_s - (self._clock() - self._opened_at)
            raise ModelUnreachableError(
                f"{what} failed {self._failed} times in a row; not calling it again for "
                f"{left:.0f} s (circuit breaker). Check that the server is up"
            )

    def success(self) -> None:
        self._failed, self._opened_at = 0, None

    def failure(self) -> None:
        self._failed += 1
        if self._failed >= self._limit:
            self._opened_at = self._clock()


def call_with_retries(
    call: Callable[[], T],
    *,
    retries: int,
    backoff_s: float,
    breaker: CircuitBreaker,
    what: str = "the model server",
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """`call()`, tried again on `Retryable` up to `retries` times with doubling waits.

    Raises:
        ModelUnreachableError: Every try failed, or the breaker is open.
        Exception: Whatever `call` raises that is not `Retryable` (no retry).
    """
    breaker.check(what)
    delay = backoff_s
    for attempt in range(retries + 1):
        try:
            result = call()
        except Retryable as exc:
            if attempt == retries:
                breaker.failure()
                raise ModelUnreachableError(
                    f"{what} did not answer after {retries + 1} tries: {exc.cause}"
                ) from exc.cause
            # INFO: a retry is progress; what finally happens is reported once, by the caller.
            logger.info("%s: %s; retrying in %.1f s", what, exc.cause, delay)
            sleep(delay)
            delay *= 2
            continue
        except Exception:
            breaker.success()  # the server answered, if with an error: it is reachable
            raise
        breaker.success()
        return result
    raise AssertionError("unreachable")  # the loop returns or raises


def call_sorted(
    action: Callable[[], T],
    *,
    retryable: Callable[[Exception], bool],
    error: Callable[[Exception], Exception],
    retries: int,
    backoff_s: float,
    breaker: CircuitBreaker,
    what: str,
) -> T:
    """`action()` through `call_with_retries`, its failures sorted by the caller's client:
    one `retryable` accepts is tried again; any other is raised as `error(exc)`.

    Raises:
        ModelUnreachableError: Every try failed, or the breaker is open.
        Exception: `error(exc)` for a failure not worth another try.
    """

    def attempt() -> T:
        try:
            return action()
        except Exception as exc:  # noqa: BLE001 - sorted by the caller's `retryable`
            if retryable(exc):
                raise Retryable(exc) from exc
            mapped = error(exc)
            if mapped is exc:
                raise
            raise mapped from exc

    return call_with_retries(
        attempt, retries=retries, backoff_s=backoff_s, breaker=breaker, what=what
    )
