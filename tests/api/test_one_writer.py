"""The server owns the writer: a CLI ingest or delete on its data dir fails fast naming it,
`rag ingest --server` goes through it, and readers see each write whole while it runs."""

from __future__ import annotations

import concurrent.futures
import re
import threading
import time
from pathlib import Path

import pytest

from rag.cli import main
from tests.api.conftest import ADMIN, DATA, WRITER, upload
from tests.support.api_server import ApiServer


def test_a_cli_write_is_refused_naming_the_server(
    service: ApiServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RAG_DATA_DIR", str(service.data_dir))
    started = time.monotonic()
    assert main(["ingest", str(DATA)]) == 2
    assert main(["delete", "anything"]) == 2
    err = capsys.readouterr().err
    assert f"rag server {service.url}" in err and f"--server {service.url}" in err
    assert time.monotonic() - started < 30  # refused before the model loads


def test_ingest_through_the_server(
    service: ApiServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "manuals"
    folder.mkdir()
    (folder / "monitor.md").write_text("# Monitors\n\nEvery desk has two 27-inch monitors.\n")
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4 not really a pdf")
    args = ["ingest", str(folder), "--server", service.url, "--kb", "it", "--api-key", WRITER]
    assert main(args) == 1  # one file failed, the other went in
    out = capsys.readouterr().out
    assert "ingest summary" in out and "failed: " in out and "broken.pdf" in out
    with service.client(ADMIN) as client:
        docs = client.get("/v1/kbs/it/documents", params={"source_prefix": "monitor"}).json()
        assert docs["total"] == 1
    assert main(args) == 1  # the same again: skipped (the PDF still fails)
    # the summary row: parsed 0, skipped 1 (monitor.md, unchanged), failed 1
    assert re.search(r"│\s*0\s*│\s*1\s*│\s*1\s*│", capsys.readouterr().out)
    assert main(["ingest", str(folder), "--server", service.url, "--kb", "it"]) == 2
    assert "unauthorized" in capsys.readouterr().err


def test_readers_see_each_write_before_or_after(service: ApiServer, tmp_path: Path) -> None:
    """4 clients query while the writer ingests and deletes a probe document: no errors,
    and each answer holds the probe's chunks whole or not at all."""
    probe = tmp_path / "probe-snowfall.md"
    probe.write_text(
        "# Snowfall procedure\n\n"
        + "\n\n".join(
            f"## Step {i}\n\nDuring snowfall the car park gate {i} opens at 6:{i:02d} for "
            "snow clearing crews."
            for i in range(1, 9)
        )
    )
    stop = threading.Event()
    seen: list[int] = []
    errors: list[str] = []

    def query() -> None:
        with service.client(ADMIN) as client:
            while not stop.is_set():
                response = client.post(
                    "/v1/retrieve",
                    json={
                        "question": "snowfall car park gate snow clearing",
                        "kb": "it",
                        "top_k": 20,
                    },
                )
                if response.status_code != 200:
                    errors.append(response.text)
                    continue
                sources = [h["source"] for h in response.json()["hits"]]
                seen.append(sources.count("probe-snowfall.md"))

    try:
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            readers = [pool.submit(query) for _ in range(4)]
            with service.client(ADMIN) as writer:
                for _ in range(3):
                    job = upload(writer, "it", [probe])
                    doc_id = job["files"][0]["doc_id"]
                    # A loaded machine may answer slower than the write cycle: let a reader
                    # see the probe once before it goes, so the check has something to check.
                    readers_saw = len(seen)
                    deadline = time.monotonic() + 60
                    while not any(seen[readers_saw:]) and time.monotonic() < deadline:
                        time.sleep(0.05)
                    assert writer.delete(f"/v1/kbs/it/documents/{doc_id}").status_code == 204
            stop.set()
            for reader in readers:
                reader.result()
    finally:
        stop.set()
    assert not errors, errors[:3]
    chunks = max(seen)
    assert chunks >= 2 and set(seen) <= {0, chunks}, sorted(set(seen))
    print(f"{len(seen)} queries during 3 ingests and 3 deletes; probe seen whole or absent")
