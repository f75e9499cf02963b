"""The embedded job store reads a `jobs.sqlite` written before leases existed."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path

from rag.state.sqlite_jobs import SqliteJobStore


def test_a_jobs_file_of_the_first_release_opens_and_its_jobs_run_again(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite"
    with closing(sqlite3.connect(path)) as db, db:
        db.execute(
            "CREATE TABLE jobs (id TEXT PRIMARY KEY, kb TEXT NOT NULL, kind TEXT NOT NULL, "
            "state TEXT NOT NULL, created_at REAL NOT NULL, finished_at REAL, error TEXT, "
            "results TEXT NOT NULL, redo TEXT, temp_dir TEXT)"
        )
        results = json.dumps([["a.md", "parsed", 3, "", "sha256:x"]])
        db.execute(
            "INSERT INTO jobs VALUES ('old', 'hr', 'ingest', 'running', 1.0, NULL, NULL, ?, "
            '\'{"text": "t", "source": "s", "title": ""}\', NULL)',
            (results,),
        )
    store = SqliteJobStore(path)
    try:
        (job,) = store.unfinished()
        assert job.results == (
            {"source": "a.md", "status": "parsed", "chunks": 3, "reason": "", "doc_id": "sha256:x"},
        )
        assert job.redo == {"text": "t", "source": "s", "title": ""} and job.worker is None
        claimed = store.claim("writer", 60, 10.0, job_id="old")  # lease NULL: claimable
        assert claimed is not None and claimed.job.attempts == 1
    finally:
        store.close()
