"""Shared state behind ports (`rag.state.base`), one implementation family per name.

`BACKENDS` maps `state.backend` to a factory of `StateBackend` for a data dir; every port of
every backend passes the conformance suites in `tests/rag/state/` unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from rag.registry import build
from rag.state.base import StateBackend
from rag.state.embedded import EmbeddedState

if TYPE_CHECKING:
    from rag.config import RagConfig
    from rag.manifest import Manifest

__all__ = ["BACKENDS", "manifest_of", "open_state"]

BACKENDS: dict[str, Callable[[Path], StateBackend]] = {"embedded": EmbeddedState}


def open_state(name: str, data_dir: Path) -> StateBackend:
    """The state backend `name` for `data_dir`.

    Raises:
        ConfigError: `name` is not registered; the message lists the names.
    """
    return build(BACKENDS, "state.backend", name, data_dir)


def manifest_of(config: RagConfig) -> Manifest | None:
    """The manifest of `config`'s data dir, read through its state backend (None: nothing
    was ingested there yet)."""
    return open_state(config.state.backend, config.data_dir).registry().read()
