"""One writer per embedded index: a second process is refused within seconds, with the
holder's process id and how to share; and an index whose writer was SIGKILLed reopens.
Run on Chroma embedded and on Milvus Lite (which also refuses a second reader: one process
per database file)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rag.config import RagConfig, StoreConfig
from rag.embed import create_embedder
from rag.errors import IndexLockedError
from rag.runtime import Runtime
from tests.support.app import index_of, ingest

GUIDE = Path(__file__).resolve().parents[2] / "examples" / "guide"

_HOLDER = """
import sys, time
from rag.config import RagConfig, StoreConfig
from rag.runtime import Runtime
config = RagConfig(data_dir=sys.argv[1], store=StoreConfig(backend=sys.argv[2]))
index = Runtime.open(config, write=True).kb().index
print("holding", flush=True)
time.sleep(120)
"""


def _config(tmp_path: Path, backend: str) -> RagConfig:
    return RagConfig(data_dir=tmp_path / "index", store=StoreConfig(backend=backend))


def _hold(config: RagConfig) -> subprocess.Popen[str]:
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(config.data_dir), config.store.backend],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
    return holder


@pytest.mark.parametrize("backend", ["chroma", "milvus"])
def test_a_second_writer_is_refused_fast_with_the_holder(tmp_path: Path, backend: str) -> None:
    config = _config(tmp_path, backend)
    assert ingest(config, [GUIDE / "user-guide.md"]).exit_code == 0
    embedder = create_embedder(config.embedder)
    holder = _hold(config)
    try:
        started = time.monotonic()
        with pytest.raises(IndexLockedError, match=f"process {holder.pid}"):
            Runtime.open(config, write=True, embedder=embedder)
        assert time.monotonic() - started < 10
        if backend == "milvus":
            # Milvus Lite: one process per file, readers included; the error says how to share.
            with pytest.raises(IndexLockedError, match=f"process {holder.pid}.*milvus-lite server"):
                with index_of(config, embedder):
                    pass
        else:
            with index_of(config, embedder) as reader:
                assert reader.count_chunks() > 0
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.parametrize("backend", ["chroma", "milvus"])
def test_the_index_reopens_after_its_writer_is_killed(tmp_path: Path, backend: str) -> None:
    config = _config(tmp_path, backend)
    assert ingest(config, [GUIDE / "user-guide.md"]).exit_code == 0
    holder = _hold(config)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    report = ingest(config, [GUIDE / "user-guide.md", GUIDE / "用户指南.md"])
    assert report.exit_code == 0 and report.count("parsed") == 1
    with index_of(config) as index:
        assert index.catalog.count_documents() == 2
