"""A model-based test: random sequences of file writes, changes, removals, `rag ingest
--prune` and `rag delete`, each index step a fresh `rag` process (the index reopened every
time), checked against a model of what the index must hold; on Chroma and Milvus Lite."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rag.config import RagConfig, StoreConfig
from rag.doctor import check_index
from tests.support.app import opened

NAMES = ("a.txt", "b.md", "c.txt")
TEXTS = (
    "Annual leave is fifteen days for every employee.",
    "VPN access needs a hardware token and a password.",
    "员工每年享有十五天带薪年假，病假需要医生证明。",
    "Laptops are replaced every four years by the IT desk.",
)
STEPS = st.one_of(
    st.tuples(st.just("write"), st.sampled_from(NAMES), st.sampled_from(TEXTS)),
    st.tuples(st.just("remove"), st.sampled_from(NAMES), st.none()),
    st.tuples(st.just("ingest"), st.none(), st.none()),
    st.tuples(st.just("delete"), st.sampled_from(NAMES), st.none()),
)


def _rag(config: RagConfig, *args: str) -> int:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env.update(RAG_DATA_DIR=str(config.data_dir), RAG_STORE__BACKEND=config.store.backend)
    command = [sys.executable, "-m", "rag.cli", *args]
    return subprocess.run(command, env=env, capture_output=True, timeout=300).returncode


def _indexed(config: RagConfig, folder: Path) -> dict[str, str]:
    """{file name: its text} as the index holds it; the index checked for orphans too."""
    if not (config.data_dir / "manifest.json").exists():
        return {}
    with opened(config, model=False) as app:
        index = app.index
        assert check_index(index, "default").findings == []
        assert index.stores[0].count() == index.count_chunks()
        held = {}
        for doc in index.documents():
            chunks = index.chunks(index.chunk_ids(doc.doc_id))
            held[Path(doc.source).name] = " ".join(c.text for c in chunks.values())
        return held


@pytest.mark.parametrize("backend", ["chroma", pytest.param("milvus", marks=pytest.mark.slow)])
@settings(
    max_examples=3,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(steps=st.lists(STEPS, min_size=2, max_size=6))
def test_sequences_match_the_model(backend: str, steps: list[tuple[Any, ...]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder, config = (
            Path(tmp) / "docs",
            RagConfig(data_dir=Path(tmp) / "index", store=StoreConfig(backend=backend)),
        )
        folder.mkdir()
        files: dict[str, str] = {}
        indexed: dict[str, str] = {}
        ingested = False
        for action, name, text in [*steps, ("ingest", None, None)]:
            if action == "write":
                (folder / name).write_text(text, encoding="utf-8")
                files[name] = text
                continue
            if action == "remove":
                (folder / name).unlink(missing_ok=True)
                files.pop(name, None)
                continue
            if action == "ingest":
                assert _rag(config, "ingest", "--quiet", "--prune", str(folder)) == 0
                indexed, ingested = dict(files), True
            else:  # before any ingest there is no index to delete from: a usage error
                code = _rag(config, "delete", str(folder / name))
                assert code == (0 if name in indexed else 1 if ingested else 2)
                indexed.pop(name, None)
            held = _indexed(config, folder)
            assert set(held) == set(indexed), (steps, action, name)
            for held_name, held_text in held.items():
                assert indexed[held_name] in held_text
