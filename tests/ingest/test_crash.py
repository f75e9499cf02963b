"""`rag ingest` killed with SIGKILL at each named stage, on Chroma, pgvector and Milvus Lite: no
document is ever partly visible, and the re-run leaves the index identical to a clean run
(same documents, ids, counts and search results; no duplicate chunks). The random-moment
version, 50 kills per backend, is `tests/benchmarks/test_crash_soak.py` (slow)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rag.faults import STAGES
from tests.conftest import DATA
from tests.support.crash import (
    config_for,
    index_state,
    partial_documents,
    run_ingest,
    stray_rows,
    unrecorded,
    write_corpus,
)

SCIFACT = DATA / "beir" / "scifact"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    scifact = SCIFACT if (SCIFACT / "corpus.jsonl").is_file() else None
    return write_corpus(tmp_path_factory.mktemp("crash") / "docs", scifact, 12)


@pytest.mark.parametrize(
    "backend", ["chroma", "pgvector", pytest.param("milvus", marks=pytest.mark.slow)]
)
def test_killed_at_every_stage_then_rerun(
    tmp_path: Path, corpus: Path, embedder: Any, backend: str, request: pytest.FixtureRequest
) -> None:
    """One run killed at each stage in turn (each resumes what the one before left), then
    a run to the end: identical to a clean run. On pgvector (the catalog in the same
    PostgreSQL) a write is one transaction: a kill anywhere leaves nothing of it."""
    databases = ["", ""]
    if backend == "pgvector":
        server = request.getfixturevalue("postgres_server")
        databases = [server.fresh_database(), server.fresh_database()]
    clean_config = config_for(tmp_path / "clean", backend, databases[0])
    assert run_ingest(clean_config, corpus) == 0
    clean = index_state(clean_config, embedder)
    config = config_for(tmp_path / "index", backend, databases[1])
    stages = [*STAGES, "mid_pack"] if backend == "pgvector" else STAGES
    for stage in stages:
        assert run_ingest(config, corpus, kill_at=stage) == -9, f"not killed at {stage}"
        assert partial_documents(config, embedder) == [], f"partly visible after {stage}"
        assert unrecorded(config, embedder) == [], f"not in the source record after {stage}"
        if backend == "pgvector":  # one transaction: nothing of the killed write is left
            assert stray_rows(config, embedder) == 0, f"rows left after {stage}"
    assert run_ingest(config, corpus) == 0
    state = index_state(config, embedder)
    assert state["duplicates"] == 0
    assert state == clean
