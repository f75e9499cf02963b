"""Incremental, idempotent ingestion against a real Chroma index and real files."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import tempfile
import time
import zipfile
from pathlib import Path

import pytest

from rag.config import RagConfig
from tests.support.app import delete, index_of, ingest, ingest_corpus, opened, pipeline_of


def _store_ids(config: RagConfig, embedder) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """(chunks in the vector store, chunks visible in the catalog)."""
    with index_of(config, embedder) as index:
        return index._store.count(), index.count_chunks()


def _ingested_at(config: RagConfig) -> list[tuple[str, float]]:
    with sqlite3.connect(config.data_dir / "catalog.sqlite") as db:
        return db.execute("SELECT doc_id, ingested_at FROM documents ORDER BY doc_id").fetchall()


def test_ingest_then_rerun_writes_nothing(config: RagConfig, small_folder: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    first = ingest(config, [small_folder])
    assert first.exit_code == 0
    assert first.count("parsed") == 5 and first.chunks_written > 10
    stored, visible = _store_ids(config, embedder)
    assert stored == visible == first.chunks_written

    written_at = _ingested_at(config)
    second = ingest(config, [small_folder])
    assert second.count("skipped") == 5 and second.chunks_written == 0
    assert _store_ids(config, embedder) == (stored, visible)
    assert _ingested_at(config) == written_at


def test_changed_file_replaces_its_chunks(config: RagConfig, small_folder: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    ingest(config, [small_folder])
    target = small_folder / "fake-html.html"
    target.write_text(
        "<html><body><h1>Parental leave</h1><p>Parents receive sixteen weeks of paid "
        "parental leave, which can be split into two blocks.</p></body></html>",
        encoding="utf-8",
    )
    report = ingest(config, [small_folder])
    assert [r.source for r in report.results if r.status == "parsed"] == [
        str(target.relative_to(Path.cwd())) if target.is_relative_to(Path.cwd()) else str(target)
    ]
    stored, visible = _store_ids(config, embedder)
    assert stored == visible
    with pipeline_of(config) as pipeline:
        hits = [c.hit for c in pipeline.ask("how many weeks of parental leave?").citations]
    assert "sixteen weeks" in hits[0].chunk.text
    assert not any("My First Heading" in h.chunk.text for h in hits)


def test_touched_but_unchanged_file_is_skipped(config: RagConfig, small_folder: Path) -> None:
    ingest(config, [small_folder])
    target = small_folder / "README.md"
    os.utime(target, (time.time() + 10, time.time() + 10))
    assert ingest(config, [small_folder]).count("skipped") == 5


def test_prune_and_delete_reach_the_index(config: RagConfig, small_folder: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    ingest(config, [small_folder])
    (small_folder / "norwich-city.txt").unlink()
    report = ingest(config, [small_folder], prune=True)
    assert [r.status for r in report.results].count("removed") == 1
    removed = delete(config, str(small_folder / "handbook-1p.docx"))
    assert len(removed) == 1 and removed[0].endswith("handbook-1p.docx")
    assert delete(config, str(small_folder / "handbook-1p.docx")) == []
    stored, visible = _store_ids(config, embedder)
    assert stored == visible
    with pipeline_of(config) as pipeline:
        sources = {
            c.hit.chunk.source
            for c in pipeline.ask("Norwich City football club", top_k=50).citations
        }
    assert not any("norwich" in s or "handbook" in s for s in sources)
    # a deleted file comes back on the next ingest
    assert ingest(config, [small_folder]).count("parsed") == 1


def test_failed_files_do_not_stop_the_batch(
    config: RagConfig, tmp_path: Path, docs_dir: Path
) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    shutil.copy(docs_dir / "unstructured/pdf/password.pdf", folder)
    shutil.copy(docs_dir / "unstructured/empty.txt", folder)
    shutil.copy(docs_dir / "unstructured/fake-text.txt", folder)
    shutil.copy(docs_dir / "unstructured/simple.zip", folder)
    report = ingest(config, [folder])
    by_status = {r.source.split("/")[-1]: (r.status, r.reason) for r in report.results}
    assert by_status["password.pdf"][0] == "failed" and "password" in by_status["password.pdf"][1]
    assert by_status["empty.txt"][0] == "failed" and "no text" in by_status["empty.txt"][1]
    assert by_status["fake-text.txt"][0] == "parsed"
    assert by_status["simple.zip!stanley-cups.csv"][0] == "parsed"
    assert report.exit_code == 1


def test_parse_time_limit_stops_a_slow_file(tmp_path: Path, docs_dir: Path) -> None:
    folder = tmp_path / "slow"
    folder.mkdir()
    shutil.copy(docs_dir / "unstructured/norwich-city.txt", folder)
    shutil.copy(docs_dir / "unstructured/fake-text.txt", folder)
    config = RagConfig.model_validate(
        {"data_dir": tmp_path / "idx", "parser": {"timeout_s": 0.5, "workers": 1}}
    )
    report = ingest(config, [folder])
    by_name = {r.source.split("/")[-1]: r for r in report.results}
    assert by_name["norwich-city.txt"].status == "failed"
    assert "timeout_s=0.5" in by_name["norwich-city.txt"].reason
    assert by_name["fake-text.txt"].status == "parsed"

    # Unchanged, it is not parsed again (it would cost the time limit on every run) ...
    again = {r.source.split("/")[-1]: r for r in ingest(config, [folder]).results}
    assert again["norwich-city.txt"].status == "failed"
    assert "unchanged since it failed" in again["norwich-city.txt"].reason
    assert "timeout_s=0.5" in again["norwich-city.txt"].reason
    assert again["fake-text.txt"].status == "skipped"
    # ... until asked, or until it changes.
    retried = {
        r.source.split("/")[-1]: r for r in ingest(config, [folder], retry_failed=True).results
    }
    assert "unchanged" not in retried["norwich-city.txt"].reason
    assert "timeout_s=0.5" in retried["norwich-city.txt"].reason
    (folder / "norwich-city.txt").write_text("Now a short file.", encoding="utf-8")
    changed = {r.source.split("/")[-1]: r for r in ingest(config, [folder]).results}
    assert changed["norwich-city.txt"].status == "parsed"
    assert ingest(config, [folder]).count("failed") == 0


def test_a_failed_archive_member_is_remembered_and_the_rest_kept(
    config: RagConfig, tmp_path: Path
) -> None:
    folder = tmp_path / "zips"
    folder.mkdir()
    with zipfile.ZipFile(folder / "pack.zip", "w") as archive:
        archive.writestr("good.txt", "Annual leave is fifteen days.")
        archive.writestr("empty.txt", "   ")
    first = {r.source.split("!")[-1]: r.status for r in ingest(config, [folder]).results}
    assert first == {"good.txt": "parsed", "empty.txt": "failed"}
    second = {r.source.split("!")[-1]: r for r in ingest(config, [folder]).results}
    assert second["good.txt"].status == "skipped"
    assert second["empty.txt"].status == "failed"
    assert "unchanged since it failed" in second["empty.txt"].reason
    with opened(config) as app:
        assert [d.source.split("!")[-1] for d in app.index.documents()] == ["good.txt"]


def test_a_parser_killed_at_its_time_limit_leaves_no_temporary_files(
    tmp_path: Path, docs_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """LibreOffice and the ZIP reader extract into the parser's own folder, removed with it."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))  # where the pool makes parser folders
    folder = tmp_path / "slow"
    folder.mkdir()

    with zipfile.ZipFile(folder / "big.zip", "w") as archive:  # extracted, then parsed slowly
        archive.write(docs_dir / "unstructured/norwich-city.txt", "norwich-city.txt")
    config = RagConfig.model_validate(
        {"data_dir": tmp_path / "idx", "parser": {"timeout_s": 0.5, "workers": 1}}
    )
    report = ingest(config, [folder])
    assert "timeout_s=0.5" in report.results[0].reason
    assert [p.name for p in tmp.iterdir() if p.name.startswith("rag-")] == []


def test_jsonl_corpus_keeps_ids(config: RagConfig, tmp_path: Path) -> None:
    corpus = tmp_path / "corpus.jsonl"
    rows = [
        {"_id": "d1", "title": "Leave", "text": "Employees get twenty days of leave."},
        {"_id": "d2", "title": "Travel", "text": "Book trains for trips under four hours."},
    ]
    corpus.write_text("\n".join(json.dumps(r) for r in rows) + "\nnot json\n", encoding="utf-8")
    report = ingest_corpus(config, corpus)
    assert report.count("parsed") == 2 and report.count("failed") == 1
    assert ingest_corpus(config, corpus).count("skipped") == 2
    with pipeline_of(config) as pipeline:
        answer = pipeline.ask("how long may a train trip be?")
    assert answer.citations[0].hit.chunk.doc_id == "d2"
    corpus.write_text(json.dumps(rows[0]) + "\n", encoding="utf-8")
    assert ingest_corpus(config, corpus, prune=True).count("removed") == 1
