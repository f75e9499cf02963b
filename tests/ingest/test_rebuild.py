"""`rag reindex --from-sources`: a knowledge base whose catalog is deleted or corrupt, or whose
store is deleted, is rebuilt from its source record to the state a clean ingest gives (same
documents, versions, chunk and summary ids, BM25 and dense results); what cannot come back
(gone files, uploads) is named and the exit code says so; deleted documents stay deleted."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path
from typing import Any

import pytest

from rag.cli import main
from rag.config import RagConfig
from rag.doctor import check_index
from rag.index import kb_catalog
from rag.sources import SourceRecord, sources_path
from tests.conftest import DATA
from tests.support.app import opened
from tests.support.crash import config_for, index_state, write_corpus

SCIFACT = DATA / "beir" / "scifact"


def _folder(root: Path) -> Path:
    """The guide, a few SciFact abstracts (when present), a ZIP of two notes."""
    scifact = SCIFACT if (SCIFACT / "corpus.jsonl").is_file() else None
    folder = write_corpus(root / "docs", scifact, 4)
    with zipfile.ZipFile(folder / "notes.zip", "w") as archive:
        archive.writestr("a.txt", "The cafeteria opens at 8 am and closes at 3 pm.\n")
        archive.writestr("b/c.md", "# Parking\n\nVisitors park in lot C, next to the gate.\n")
    return folder


def _corpus(root: Path) -> Path:
    rows = [
        {"_id": "q1", "title": "Badges", "text": "Lost badges are replaced at the front desk."},
        {"_id": "q2", "title": "Printers", "text": "The printer on floor 3 needs a PIN."},
    ]
    path = root / "corpus.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _lose(config: RagConfig, how: str) -> None:
    catalog = kb_catalog(config.data_dir, config.kb)
    if how == "catalog deleted":
        catalog.unlink()
    elif how == "catalog corrupt":
        catalog.write_bytes(b"\x00garbage, not a database" * 4096)
        for suffix in ("-wal", "-shm"):
            catalog.with_name(catalog.name + suffix).unlink(missing_ok=True)
    else:  # the store deleted
        store = config.data_dir / ("chroma" if config.store.backend == "chroma" else "milvus.db")
        if store.is_dir():
            shutil.rmtree(store)
        else:
            store.unlink()


@pytest.mark.parametrize("backend", ["chroma", pytest.param("milvus", marks=pytest.mark.slow)])
def test_rebuilt_after_each_loss_equals_a_clean_ingest(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    embedder: Any,
    backend: str,
) -> None:
    folder, corpus = _folder(tmp_path), _corpus(tmp_path)
    config = config_for(tmp_path / "index", backend)
    monkeypatch.setenv("RAG_DATA_DIR", str(config.data_dir))
    monkeypatch.setenv("RAG_STORE__BACKEND", backend)
    assert main(["ingest", "--quiet", str(folder), "--jsonl", str(corpus)]) == 0
    clean = index_state(config, embedder)
    assert len(clean["documents"]) >= 8  # 4 guide files, 2 members, 2 rows (+ abstracts)
    for how in ("catalog deleted", "catalog corrupt", "store deleted"):
        _lose(config, how)
        if how == "catalog corrupt":  # every command says what to do, none is an internal error
            capsys.readouterr()
            assert main(["stats"]) == 2
            assert "rag reindex --from-sources --kb default" in capsys.readouterr().err
        assert main(["reindex", "--from-sources", "--quiet"]) == 0, how
        assert index_state(config, embedder) == clean, how
        with opened(config, write=True, model=False) as app:
            assert check_index(app.index, config.kb).findings == [], how
        assert main(["ingest", "--quiet", str(folder)]) == 0  # nothing to do again
        assert index_state(config, embedder) == clean, how


def test_what_cannot_come_back_is_named_and_deletes_stay_deleted(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    embedder: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder = _folder(tmp_path)
    config = config_for(tmp_path / "index", "chroma")
    monkeypatch.setenv("RAG_DATA_DIR", str(config.data_dir))
    assert main(["ingest", "--quiet", str(folder)]) == 0
    from ingest.run import ingest_text

    with opened(config, write=True, embedder=embedder) as app:  # as the service posts text
        ingest_text(app, "Posted note: the gym is on floor 2.", "note.txt")
    (folder / "user-guide.md").unlink()
    # An index written before the record existed: the next writer starts it from the catalog.
    shutil.rmtree(config.data_dir / "sources")
    assert main(["ingest", "--quiet", str(folder)]) == 0
    assert main(["delete", str(folder / "faq.html")]) == 0  # its file stays on disk
    held = SourceRecord(sources_path(config.data_dir)).read()
    assert held.torn == 0 and "note.txt" in {d.source for d in held.docs.values()}
    assert str(folder / "user-guide.md") in held.files  # gone from disk, not pruned
    capsys.readouterr()

    kb_catalog(config.data_dir, config.kb).unlink()
    assert main(["reindex", "--from-sources"]) == 1
    captured = capsys.readouterr()
    assert "note.txt: uploaded or posted as text" in captured.err
    assert "user-guide.md: gone since it was ingested" in captured.err
    assert "1 gone, 1 not rebuildable, 0 failed" in captured.out
    with opened(config, model=False) as app:
        sources = {d.source.removeprefix(f"{folder}/") for d in app.index.documents()}
    assert "faq.html" not in sources  # deleted before the loss: still deleted
    assert {"notes.zip!a.txt", "notes.zip!b/c.md", "quick-reference.pdf"} <= sources
    assert "note.txt" not in sources and "user-guide.md" not in sources
    # The record now holds what the index holds: a second rebuild has nothing to report.
    assert main(["reindex", "--from-sources", "--quiet"]) == 0
    assert "0 gone, 0 not rebuildable, 0 failed" in capsys.readouterr().out


def test_no_record_says_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RAG_DATA_DIR", str(tmp_path / "index"))
    assert main(["reindex", "--from-sources"]) == 2
    assert "no source record" in capsys.readouterr().err
