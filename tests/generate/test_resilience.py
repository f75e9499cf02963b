"""call_sorted: the one retry wrapper the generation backends and served embedders share."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from rag.errors import ModelUnreachableError
from rag.generate.resilience import CircuitBreaker, call_sorted


class Busy(Exception):
    """A failure the caller's client calls worth another try."""


class Refused(Exception):
    """A failure that is not."""


def _same(exc: Exception) -> Exception:
    return exc


def _call(
    action: Callable[[], str],
    error: Callable[[Exception], Exception] = _same,
    breaker: CircuitBreaker | None = None,
) -> str:
    return call_sorted(
        action,
        retryable=lambda exc: isinstance(exc, Busy),
        error=error,
        retries=2,
        backoff_s=0.0,
        breaker=breaker or CircuitBreaker(failures=5, reset_s=60),
        what="the test server",
    )


def test_a_retryable_failure_is_tried_again_until_it_answers() -> None:
    tries = []

    def action() -> str:
        tries.append(1)
        if len(tries) < 3:
            raise Busy("503")
        return "answer"

    assert _call(action) == "answer"
    assert len(tries) == 3


def test_other_failures_are_mapped_once_and_keep_their_cause() -> None:
    tries = []

    def action() -> str:
        tries.append(1)
        raise Refused("401")

    with pytest.raises(ValueError, match="set the key") as caught:
        _call(action, error=lambda exc: ValueError(f"set the key ({exc})"))
    assert isinstance(caught.value.__cause__, Refused)
    assert len(tries) == 1


def test_a_failure_mapped_to_itself_is_raised_as_it_was() -> None:
    def action() -> str:
        raise Refused("plain")

    with pytest.raises(Refused) as caught:
        _call(action)
    assert caught.value.__cause__ is None  # not its own cause


def test_retries_spent_open_the_breaker() -> None:
    breaker = CircuitBreaker(failures=1, reset_s=60)

    def action() -> str:
        raise Busy("no connection")

    with pytest.raises(ModelUnreachableError, match="did not answer after 3 tries"):
        _call(action, breaker=breaker)
    with pytest.raises(ModelUnreachableError, match="circuit breaker"):
        _call(lambda: "never called", breaker=breaker)
