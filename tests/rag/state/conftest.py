"""One fixture per port, parametrised over every state backend (`rag.state.BACKENDS`): each
conformance suite here runs unchanged against every implementation. The postgres backend
runs on a real PostgreSQL 18 (`tests.support.postgres`), a fresh database per test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from rag.config import DatabaseConfig, RagConfig
from rag.state import BACKENDS, open_state
from rag.state.base import StateBackend

MakeState = Callable[[str], StateBackend]


@pytest.fixture(params=sorted(BACKENDS))
def make_state(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MakeState]:
    """Opens the backend under test at a named place: a data dir, or a database schema."""
    backend: str = request.param
    url = request.getfixturevalue("postgres_url") if backend == "postgres" else ""
    opened: list[StateBackend] = []

    def make(where: str) -> StateBackend:
        config = RagConfig(
            data_dir=tmp_path / where,
            state={"backend": backend},
            database=DatabaseConfig(url=SecretStr(url), namespace=where),
        )
        state = open_state(config)
        opened.append(state)
        return state

    yield make
    for state in opened:
        state.close()


@pytest.fixture
def state(make_state: MakeState) -> StateBackend:
    return make_state("data")
