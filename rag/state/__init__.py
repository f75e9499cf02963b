"""Shared state behind ports (`rag.state.base`), one implementation family per name.

`BACKENDS` maps a state backend's name to a factory of `StateBackend` for a configuration:
`embedded` (files and SQLite in the data dir) and `postgres` (the database at
`database.url`). Every port of every backend passes the conformance suites in
`tests/rag/state/` unchanged. `RagConfig.state_backend` says which one is in effect.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from rag.registry import build
from rag.state.base import StateBackend
from rag.state.embedded import EmbeddedState

if TYPE_CHECKING:
    from rag.config import RagConfig

__all__ = ["BACKENDS", "open_state", "place_of"]


def _embedded(config: RagConfig) -> StateBackend:
    return EmbeddedState(config.data_dir)


def _postgres(config: RagConfig) -> StateBackend:
    from rag.state.postgres import PostgresState

    return PostgresState.open(config)


BACKENDS: dict[str, Callable[[RagConfig], StateBackend]] = {
    "embedded": _embedded,
    "postgres": _postgres,
}


def open_state(config: RagConfig) -> StateBackend:
    """The state backend `config` names (close it when done).

    Raises:
        ConfigError: The name is not registered (the message lists the names), or the
            backend's settings are incomplete.
        DatabaseUnavailableError: The postgres backend's database does not answer.
    """
    return build(BACKENDS, "state.backend", config.state_backend, config)


def place_of(config: RagConfig) -> tuple[str, str]:
    """Where `config`'s state lives, comparable between configurations: the data dir
    (embedded), or the database and its schema (postgres)."""
    backend = config.state_backend
    if backend == "postgres":
        from rag.postgres import redact

        return (
            backend,
            f"{redact(config.database.url.get_secret_value())}#{config.database.namespace}",
        )
    return backend, str(config.data_dir.resolve())
