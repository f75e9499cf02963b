"""What only the Milvus backend does: BM25 scored with our constants on our terms, and
Milvus Lite's writes flushed before the next search (its unflushed rows are searched row by
row in Python)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from rag.config import LexicalConfig, StoreConfig
from rag.lexical.analyzer import Analyzer, contextual_text
from rag.lexical.bm25 import BM25Tables, LexicalRow
from rag.stores import open_store
from rag.types import Chunk

pytest.importorskip("pymilvus", reason="pip install -e '.[dev]' installs pymilvus")

TEXTS = [
    "Vitamin D deficiency is common in the elderly and lowers bone density.",
    "Bone density rises with weight-bearing exercise in the elderly.",
    "Running shoes and marathon training plans for beginners.",
    "维生素D缺乏会降低骨密度，老年人尤其常见。",
    "Vitamin C does not prevent the common cold.",
]


def _chunks() -> list[Chunk]:
    return [
        Chunk(f"c{i}", f"d{i}", "v1", text, 0, f"{i}.md", section=f"Part {i}")
        for i, text in enumerate(TEXTS)
    ]


def _vectors(n: int) -> np.ndarray:
    vectors = np.random.default_rng(3).standard_normal((n, 16)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


@pytest.mark.parametrize("k1,b", [(1.5, 0.75), (0.9, 0.4)])
def test_native_bm25_scores_equal_ours(tmp_path: Path, k1: float, b: float) -> None:
    lexical = LexicalConfig(k1=k1, b=b)
    chunks = _chunks()
    store = open_store(StoreConfig(backend="milvus"), tmp_path, 16, lexical)
    store.upsert(chunks, _vectors(len(chunks)))
    analyzer = Analyzer(lexical)
    ours = BM25Tables(sqlite3.connect(":memory:"), "lex", lexical)
    ours.add([LexicalRow(c.chunk_id, c.doc_id, analyzer.terms(contextual_text(c))) for c in chunks])
    try:
        for query in ("vitamin D bone density elderly", "骨密度 老年人", "common cold"):
            expected = ours.search(analyzer.terms(query), 5)
            native = store.search_lexical(query, 5)  # type: ignore[attr-defined]
            assert [h.chunk.chunk_id for h in native] == [cid for cid, _ in expected]
            np.testing.assert_allclose([h.score for h in native], [s for _, s in expected], 1e-4)
    finally:
        store.close()


def _data_files(folder: Path, collection: str) -> list[Path]:
    return sorted((folder / "milvus.db" / "collections" / collection).rglob("*.parquet"))


def test_milvus_lite_flushes_what_was_written_before_the_next_search(tmp_path: Path) -> None:
    """Milvus Lite keeps writes in a memtable it searches row by row (0.8 s a query at 20 000
    rows); the store flushes once, on the first search after a write, not on every write."""
    store = open_store(StoreConfig(backend="milvus", collection="fresh"), tmp_path, 16)
    vectors = _vectors(len(TEXTS))
    try:
        store.upsert(_chunks()[:3], vectors[:3])
        store.upsert(_chunks()[3:], vectors[3:])
        assert _data_files(tmp_path, "fresh") == []  # writes alone do not flush
        hits = store.search_dense(vectors[4], 2)
        assert hits[0].chunk.chunk_id == "c4"  # Strong consistency: the write is seen
        assert len(_data_files(tmp_path, "fresh")) == 1
        store.search_dense(vectors[0], 2)
        assert len(_data_files(tmp_path, "fresh")) == 1  # nothing new: no second flush
    finally:
        store.close()


def test_closing_a_writer_leaves_the_reader_in_the_same_process_working(tmp_path: Path) -> None:
    config = StoreConfig(backend="milvus")
    writer = open_store(config, tmp_path, 16)
    writer.upsert(_chunks(), _vectors(len(TEXTS)))
    reader = open_store(config, tmp_path, 16)
    writer.close()  # Milvus Lite's embedded server serves the reader still
    hits = reader.search_dense(_vectors(len(TEXTS))[0], 2)
    assert [h.chunk.chunk_id for h in hits][0] == "c0"
    reader.close()
    from milvus_lite.server_manager import server_manager_instance

    # The last store to close releases the server (and the file, for other processes).
    assert str((tmp_path / "milvus.db").resolve()) not in server_manager_instance._servers


def test_a_collection_whose_creation_was_killed_is_created_again(tmp_path: Path) -> None:
    """Milvus Lite makes a collection's folder before its schema.json: a kill in between
    (seen in the crash soak) left an index that could not be opened ("File exists")."""
    store = open_store(StoreConfig(backend="milvus", collection="first"), tmp_path, 16)
    store.close()  # the database exists; now the state a killed create leaves behind:
    folder = tmp_path / "milvus.db" / "collections" / "chunks"
    folder.mkdir()
    (folder / "schema.json.tmp").write_text("{")
    store = open_store(StoreConfig(backend="milvus", collection="chunks"), tmp_path, 16)
    try:
        store.upsert(_chunks(), _vectors(len(TEXTS)))
        assert store.count() == len(TEXTS)
        assert (folder / "schema.json").is_file()
    finally:
        store.close()
