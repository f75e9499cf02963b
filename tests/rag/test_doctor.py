"""`rag doctor` finds orphans of every kind, `--fix` repairs them, and a re-ingest restores
what a repair had to hide; on Chroma and on Milvus Lite."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from rag.catalog import _transaction
from rag.cli import main
from rag.config import RagConfig, StoreConfig
from rag.lexical.bm25 import LexicalRow
from rag.types import Chunk
from tests.support.app import ingest, opened

REPO = Path(__file__).resolve().parents[2]
GUIDE = REPO / "examples" / "guide"
KINDS = {
    "interrupted_writes",
    "garbage",
    "orphan_vectors",
    "orphan_summaries",
    "lexical_orphans",
    "missing_lexical",
    "missing_vectors",
    "documents_without_chunks",
}


def _ghost(chunk_id: str) -> Chunk:
    return Chunk(chunk_id, "ghost-doc", "v0", "a chunk nobody owns", 0, "ghost.txt")


def _inject(config: RagConfig) -> dict[str, object]:
    """One orphan of every kind; returns the documents damaged on purpose."""
    with opened(config, write=True, model=False) as app:
        index = app.index
        chunks, summaries = index.stores
        vector = np.ones((1, 384), np.float32) / np.sqrt(384)
        docs = index.documents()
        broken, emptied, unlexed = docs[0], docs[1], docs[2]
        chunks.upsert([_ghost("ghost-chunk")], vector)
        summaries.upsert([_ghost("ghost-summary")], vector)
        chunks.delete(index.chunk_ids(broken.doc_id)[:1])
        emptied_chunks = len(index.chunk_ids(emptied.doc_id))
        catalog = index.catalog
        db = catalog._db
        with _transaction(db):
            catalog.bm25.add([LexicalRow("ghost-lexical", "ghost-doc", ["ghost"])])
            catalog.bm25.remove(index.chunk_ids(unlexed.doc_id)[:1])
            db.execute("DELETE FROM chunks WHERE doc_id=?", (emptied.doc_id,))
            # a write killed after its vectors were stored, before the commit:
            db.execute(
                "INSERT INTO pending VALUES ('crashed', 'v9', ?, 0)", (json.dumps(["half"]),)
            )
            db.execute("INSERT INTO garbage VALUES ('stale')")
        chunks.upsert([_ghost("half"), _ghost("stale")], np.vstack([vector, vector]))
        return {
            "broken": broken.source,
            "emptied": emptied.source,
            "freed": emptied_chunks,
            "broken_id": broken.doc_id,
        }


def _doctor(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[dict[str, object]]]:
    capsys.readouterr()
    code = main(["doctor", "--json", *args])
    return code, json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("backend", ["chroma", "milvus"])
def test_doctor_finds_and_fixes_every_kind(
    tmp_path: Path,
    backend: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = RagConfig(data_dir=tmp_path / "index", store=StoreConfig(backend=backend))
    monkeypatch.setenv("RAG_DATA_DIR", str(config.data_dir))
    monkeypatch.setenv("RAG_STORE__BACKEND", backend)
    assert ingest(config, [GUIDE]).exit_code == 0
    assert _doctor(capsys) == (0, [_clean(config)])
    damaged = _inject(config)

    code, [found] = _doctor(capsys)
    assert code == 5
    kinds = {f["kind"]: f for f in found["findings"]}  # type: ignore[union-attr]
    assert set(kinds) == KINDS
    assert not any(f["repaired"] for f in kinds.values())
    # The emptied document's chunks are orphans now, in the store and in BM25.
    assert kinds["orphan_vectors"]["count"] == 1 + damaged["freed"]
    assert kinds["lexical_orphans"]["count"] == 1 + damaged["freed"]
    assert kinds["orphan_summaries"]["examples"] == ["ghost-summary"]
    assert kinds["missing_lexical"]["count"] == 1
    assert kinds["missing_vectors"]["examples"] == [damaged["broken_id"]]
    assert kinds["interrupted_writes"]["examples"] == ["half"]
    assert kinds["garbage"]["examples"] == ["stale"]

    code, [fixed] = _doctor(capsys, "--fix")
    assert code == 0 and fixed["ok"]
    assert {f["kind"] for f in fixed["findings"]} == KINDS  # type: ignore[union-attr]
    code, [after] = _doctor(capsys)
    assert (code, after["findings"]) == (0, [])
    with opened(config, model=False) as app:
        sources = {d.source for d in app.index.documents()}
        assert damaged["broken"] not in sources and damaged["emptied"] not in sources
        assert app.index.stores[0].get(["ghost-chunk", "half", "stale"]) == []
    # The documents a repair hid come back with the next ingest of their folder.
    report = ingest(config, [GUIDE])
    assert report.count("parsed") == 2
    assert _doctor(capsys) == (0, [_clean(config)])


def _clean(config: RagConfig) -> dict[str, object]:
    with sqlite3.connect(config.data_dir / "catalog.sqlite") as db:
        documents = db.execute("SELECT COUNT(*) FROM documents").fetchone()[0]
        chunks = db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
    return {"kb": "default", "ok": True, "documents": documents, "chunks": chunks, "findings": []}
