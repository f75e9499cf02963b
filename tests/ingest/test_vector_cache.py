"""No text is embedded twice: passage vectors are kept in the data dir's vector cache."""

from __future__ import annotations

import json
import logging
import sqlite3
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest

from ingest.run import ingest_jsonl
from rag.config import RagConfig
from rag.embed import Embedder
from rag.embed.vector_cache import PersistentEmbedder, SqliteVectorCache
from tests.support.app import ingest_corpus, opened

ROWS = [
    ("leave", "Leave", "Employees receive twenty days of paid leave a year."),
    ("remote", "Remote work", "Staff may work from home two days a week with approval."),
    ("expenses", "Expenses", "Receipts are submitted within thirty days of purchase."),
]


def _corpus(path: Path, rows: list[tuple[str, str, str]]) -> Path:
    lines = [json.dumps({"_id": i, "title": t, "text": x}) for i, t, x in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


class Counting:
    """The real model, counting the passages it is asked to embed."""

    def __init__(self, inner: Embedder) -> None:
        self.inner, self.embedded = inner, 0

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        self.embedded += len(texts)
        return self.inner.embed_documents(texts)


def test_reingest_other_files_and_knowledge_bases_reuse_vectors(
    config: RagConfig, tmp_path: Path
) -> None:
    first = ingest_corpus(config, _corpus(tmp_path / "a.jsonl", ROWS))
    assert (first.chunks_written, first.reused) == (3, 0)
    # the same passages under other ids in another file: every vector reused
    renamed = [(f"{i}-copy", t, x) for i, t, x in ROWS]
    again = ingest_corpus(config, _corpus(tmp_path / "b.jsonl", renamed))
    assert (again.chunks_written, again.reused) == (3, 3)
    # another knowledge base of the same data dir, one passage changed
    changed = [*ROWS[:2], ("expenses", "Expenses", "Receipts are due within a week.")]
    other = config.model_copy(update={"kb": "hr"})
    with opened(other, write=True, create="") as app:
        report = ingest_jsonl(app, _corpus(tmp_path / "c.jsonl", changed))
    assert (report.chunks_written, report.reused) == (3, 2)
    # and the cached vectors answer like fresh ones
    with opened(other) as app:
        hits = app.pipeline.search.retrieve("how many days of paid leave?", 1)
    assert hits[0].chunk.doc_id == "leave"


def test_cached_vectors_equal_the_models(embedder: Embedder, tmp_path: Path) -> None:
    texts = [x for _, _, x in ROWS]
    counting = Counting(embedder)
    cache = SqliteVectorCache(tmp_path / "embeddings.sqlite", max_mb=16)
    first = PersistentEmbedder(counting, cache, "")  # type: ignore[arg-type]
    fresh = first.embed_documents([*texts, texts[0]])  # a repeated passage: embedded once
    assert counting.embedded == 3 and first.reused == 1
    cached = first.embed_documents(texts)
    assert counting.embedded == 3 and first.reused == 4
    assert np.array_equal(cached, fresh[:3]) and cached.dtype == np.float32
    assert np.allclose(cached, embedder.embed_documents(texts), atol=1e-6)
    # another document prefix is another vector: not read from the cache
    prefixed = PersistentEmbedder(counting, cache, "passage: ")  # type: ignore[arg-type]
    prefixed.embed_documents(texts[:1])
    assert counting.embedded == 4 and prefixed.reused == 0
    cache.close()


def test_least_recently_used_vectors_go_past_the_limit(embedder: Embedder, tmp_path: Path) -> None:
    # 384 floats + overhead = 1596 bytes a row: 1 MB holds 657 vectors
    cache = SqliteVectorCache(tmp_path / "embeddings.sqlite", max_mb=1)
    vectors = {i.to_bytes(4, "big"): np.full(384, i, np.float32) for i in range(700)}
    cache.put(dict(list(vectors.items())[:600]))
    assert len(cache.get([(0).to_bytes(4, "big")])) == 1  # used again: now the newest
    cache.put(dict(list(vectors.items())[600:]))
    assert len(cache) == 657
    kept = cache.get(list(vectors))
    assert (0).to_bytes(4, "big") in kept and (1).to_bytes(4, "big") not in kept
    assert np.array_equal(kept[(650).to_bytes(4, "big")], vectors[(650).to_bytes(4, "big")])
    cache.close()


def test_switched_off_embeds_everything_and_keeps_no_file(tmp_path: Path) -> None:
    config = RagConfig(data_dir=tmp_path / "index", embedder={"vector_cache_mb": 0})  # type: ignore[arg-type]
    corpus = _corpus(tmp_path / "a.jsonl", ROWS)
    ingest_corpus(config, corpus)
    renamed = [(f"{i}-copy", t, x) for i, t, x in ROWS]
    report = ingest_corpus(config, _corpus(tmp_path / "b.jsonl", renamed))
    assert (report.chunks_written, report.reused) == (3, 0)
    assert not (config.data_dir / "embeddings.sqlite").exists()


def test_a_damaged_cache_file_is_moved_aside_and_ingest_goes_on(
    config: RagConfig, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ingest_corpus(config, _corpus(tmp_path / "a.jsonl", ROWS))
    path = config.data_dir / "embeddings.sqlite"
    for suffix in ("-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    path.write_bytes(b"not a database, " * 512)  # a disk error, a half copy
    renamed = [(f"{i}-copy", t, x) for i, t, x in ROWS]
    with caplog.at_level(logging.WARNING, logger="rag.embed.vector_cache"):
        report = ingest_corpus(config, _corpus(tmp_path / "b.jsonl", renamed))
    assert (report.chunks_written, report.reused) == (3, 0)  # embedded again, not failed
    assert "cannot be read" in caplog.text and "embeddings.sqlite.damaged" in caplog.text
    assert (config.data_dir / "embeddings.sqlite.damaged").read_bytes().startswith(b"not a")
    third = [(f"{i}-third", t, x) for i, t, x in ROWS]
    again = ingest_corpus(config, _corpus(tmp_path / "c.jsonl", third))  # the new cache works
    assert (again.chunks_written, again.reused) == (3, 3)


def test_a_cache_file_of_another_layout_is_moved_aside(tmp_path: Path) -> None:
    path = tmp_path / "embeddings.sqlite"
    with closing(sqlite3.connect(path)) as db, db:
        db.execute("CREATE TABLE vectors (name TEXT)")  # some other program's file
    cache = SqliteVectorCache(path, max_mb=1)
    cache.put({b"k": np.ones(4, np.float32)})
    assert np.array_equal(cache.get([b"k"])[b"k"], np.ones(4, np.float32))
    assert (tmp_path / "embeddings.sqlite.damaged").is_file()
    cache.close()
