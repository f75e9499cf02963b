"""Shared state behind ports (`rag.state.base`), one implementation family per name.

`BACKENDS` maps `state.backend` to a factory of `StateBackend` for a data dir; every port of
every backend passes the conformance suites in `tests/rag/state/` unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from rag.registry import build
from rag.state.base import StateBackend
from rag.state.embedded import EmbeddedState

__all__ = ["BACKENDS", "open_state"]

BACKENDS: dict[str, Callable[[Path], StateBackend]] = {"embedded": EmbeddedState}


def open_state(name: str, data_dir: Path) -> StateBackend:
    """The state backend `name` for `data_dir`.

    Raises:
        ConfigError: `name` is not registered; the message lists the names.
    """
    return build(BACKENDS, "state.backend", name, data_dir)
