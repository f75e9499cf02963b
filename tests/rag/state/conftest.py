"""One fixture per port, parametrised over every state backend (`rag.state.BACKENDS`): each
conformance suite here runs unchanged against every implementation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from rag.state import BACKENDS, open_state
from rag.state.base import StateBackend


@pytest.fixture(params=sorted(BACKENDS))
def state(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateBackend]:
    yield open_state(request.param, tmp_path / "data")
