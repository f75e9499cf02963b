"""A real `rag ingest` process killed with SIGKILL never leaves a partial document visible,
and the next run completes the index with no duplicate chunks."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ingest.split import TokenSplitter
from rag.config import RagConfig
from rag.types import Document, Element
from tests.support.app import index_of

WORDS = "leave travel budget laptop security badge parking insurance pension holiday".split()


def _corpus(path: Path, n: int) -> list[dict[str, str]]:
    rows = []
    for i in range(n):
        body = " ".join(
            f"Policy {i} clause {j} covers {WORDS[(i + j) % 10]} and {WORDS[(i * j) % 10]}."
            for j in range(60)
        )
        rows.append({"_id": f"doc-{i}", "title": f"Policy {i}", "text": body})
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return rows


def _committed(data_dir: Path) -> int:
    try:
        with sqlite3.connect(f"file:{data_dir / 'catalog.sqlite'}?mode=ro", uri=True) as db:
            return int(db.execute("SELECT COUNT(*) FROM documents").fetchone()[0])
    except sqlite3.Error:
        return 0


def _run(args: list[str], data_dir: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ, RAG_DATA_DIR=str(data_dir), RAG_EMBEDDER__BATCH_SIZE="8")
    return subprocess.Popen(
        [sys.executable, "-m", "rag.cli", "ingest", "--quiet", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _kill_when(proc: subprocess.Popen[bytes], data_dir: Path, docs: int, delay: float) -> None:
    deadline = time.monotonic() + 240
    while _committed(data_dir) < docs and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def _assert_no_partial_document(config: RagConfig, embedder) -> int:  # type: ignore[no-untyped-def]
    with index_of(config, embedder) as index:
        for doc in index.catalog.documents():
            ids = index.catalog.chunk_ids(doc.doc_id)
            assert len(ids) == doc.n_chunks
            assert len(index._store.get(ids)) == len(ids), f"{doc.doc_id} is partly visible"
        hits = index.search(embedder.embed_query("parking insurance clause"), 200)
        visible = index.catalog.visible(h.chunk.chunk_id for h in hits)
        assert {h.chunk.chunk_id for h in hits} == visible
        return index.count_chunks()


def _expected_chunks(rows: list[dict[str, str]], config: RagConfig, embedder) -> int:  # type: ignore[no-untyped-def]
    splitter = TokenSplitter(config.chunker, embedder.tokenizer)
    total = 0
    for row in rows:
        section = (row["title"],)
        elements = (
            Element(row["title"], "Title", None, section),
            Element(row["text"], "NarrativeText", None, section),
        )
        total += len(splitter.split(Document(row["_id"], row["_id"], "v", elements)))
    return total


@pytest.mark.parametrize(("docs", "delay"), [(0, 0.0), (1, 0.05), (25, 0.0), (60, 0.13)])
def test_sigkill_mid_jsonl_ingest(tmp_path: Path, embedder, docs: int, delay: float) -> None:  # type: ignore[no-untyped-def]
    corpus = tmp_path / "corpus.jsonl"
    rows = _corpus(corpus, 120)
    data_dir = tmp_path / "index"
    config = RagConfig(data_dir=data_dir)

    proc = _run(["--jsonl", str(corpus)], data_dir)
    _kill_when(proc, data_dir, docs, delay)
    if (data_dir / "manifest.json").exists():
        _assert_no_partial_document(config, embedder)

    done = _run(["--jsonl", str(corpus)], data_dir)
    assert done.wait(600) == 0, done.stderr.read().decode() if done.stderr else ""
    expected = _expected_chunks(rows, config, embedder)
    assert _assert_no_partial_document(config, embedder) == expected
    with index_of(config, embedder) as index:
        assert index._store.count() == expected  # no duplicates, no leftovers


def test_sigkill_mid_folder_ingest(tmp_path: Path, small_folder: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    data_dir = tmp_path / "index"
    config = RagConfig(data_dir=data_dir)
    proc = _run([str(small_folder)], data_dir)
    _kill_when(proc, data_dir, 1, 0.0)
    if (data_dir / "manifest.json").exists():
        _assert_no_partial_document(config, embedder)
    done = _run([str(small_folder)], data_dir)
    assert done.wait(600) == 0
    with index_of(config, embedder) as index:
        assert index.catalog.count_documents() == 5
        assert index._store.count() == index.count_chunks()
