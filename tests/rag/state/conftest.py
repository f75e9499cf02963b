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


@pytest.fixture(params=[*sorted(BACKENDS), "postgres-packed"])
def make_state(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MakeState]:
    """Opens the backend under test at a named place: a data dir, or a database schema.
    `postgres-packed`: PostgreSQL packing the BM25 postings at every write, so that the
    suites run against the packed arrays as well as against the rows."""
    backend, _, variant = str(request.param).partition("-")
    url = request.getfixturevalue("postgres_url") if backend == "postgres" else ""
    pack_at = 1 if variant == "packed" else 200_000
    opened: list[StateBackend] = []

    def make(where: str) -> StateBackend:
        config = RagConfig(
            data_dir=tmp_path / where,
            state={"backend": backend},
            database=DatabaseConfig(url=SecretStr(url), namespace=where, bm25_pack_at=pack_at),
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
