"""The crash soak (slow; prints figures): per backend, CRASH_RUNS runs (default 50), each
a fresh `rag ingest` of a real corpus killed with SIGKILL at a random moment, checked for
partly visible documents and for a source record behind the index, re-run to the end and
compared with a clean run (same documents, ids, counts and search results; no duplicates).

    CRASH_RUNS=50 pytest -m slow -s tests/benchmarks/test_crash_soak.py
    CRASH_RUNS=50 CRASH_ABSTRACTS=12 pytest -m slow -s tests/benchmarks/test_crash_soak.py -k milvus

CRASH_ABSTRACTS (default 30) sets how many SciFact abstracts join the guide: fewer make
shorter runs, so more of them fit in an hour. CRASH_SEED picks other kill moments, so that
the runs can be split over processes (CRASH_RUNS=25 twice, with two seeds).
"""

from __future__ import annotations

import os
import random
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import DATA
from tests.support.crash import (
    config_for,
    index_state,
    kill_randomly,
    partial_documents,
    run_ingest,
    unrecorded,
    write_corpus,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(4 * 3600)]


@pytest.mark.parametrize("backend", ["chroma", "milvus"])
def test_random_kills(tmp_path: Path, embedder: Any, backend: str) -> None:
    runs = int(os.environ.get("CRASH_RUNS", "50"))
    scifact = DATA / "beir" / "scifact"
    abstracts = int(os.environ.get("CRASH_ABSTRACTS", "30"))  # beside the guide's 4 files
    corpus = write_corpus(tmp_path / "docs", scifact if scifact.is_dir() else None, abstracts)
    clean_config = config_for(tmp_path / "clean", backend)
    started = time.monotonic()
    assert run_ingest(clean_config, corpus) == 0
    clean_s = time.monotonic() - started
    clean = index_state(clean_config, embedder)
    rng = random.Random(f"crash-{backend}{os.environ.get('CRASH_SEED', '')}")
    killed, partial, behind, duplicates, mismatched, failed_reruns = 0, 0, 0, 0, 0, 0
    moments = []
    for run in range(runs):
        config = config_for(tmp_path / f"run-{run}", backend)
        moment = kill_randomly(config, corpus, rng, clean_s)
        if moment >= 0:
            killed += 1
            moments.append(moment)
        partial += bool(partial_documents(config, embedder))
        behind += bool(unrecorded(config, embedder))
        if run_ingest(config, corpus) != 0:
            failed_reruns += 1
            continue
        state = index_state(config, embedder)
        duplicates += state["duplicates"]
        mismatched += state != clean
        shutil.rmtree(config.data_dir, ignore_errors=True)
    print(
        f"\ncrash soak {backend}: {runs} runs, {killed} killed (at {min(moments, default=0):.1f}"
        f"-{max(moments, default=0):.1f} s of a {clean_s:.1f} s clean run), "
        f"{len(clean['documents'])} documents / {clean['catalog_chunks']} chunks each; "
        f"partly visible after a kill: {partial}; source record behind the index: {behind}; "
        f"failed re-runs: {failed_reruns}; "
        f"duplicate chunks: {duplicates}; final state different from the clean run: {mismatched}"
    )
    assert (partial, behind, failed_reruns, duplicates, mismatched) == (0, 0, 0, 0, 0)
