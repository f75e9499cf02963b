"""`rag ingest --server URL`: upload files to a running `rag serve` instead of writing
the index directly (the server owns the writer), with the same progress bar and summary."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from ingest.discover import discover, display
from ingest.progress import Progress
from ingest.run import FileResult, IngestReport
from rag.config import RagConfig
from rag.errors import ConfigError, IngestError

__all__ = ["upload_paths"]

_BATCH_FILES = 20
_BATCH_BYTES = 40_000_000


def _batches(files: Sequence[Path]) -> Iterator[list[Path]]:
    batch: list[Path] = []
    size = 0
    for file in files:
        length = file.stat().st_size
        if batch and (len(batch) >= _BATCH_FILES or size + length > _BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(file)
        size += length
    if batch:
        yield batch


def _raise_for(response: Any, url: str) -> None:
    if response.status_code < 400:
        return
    try:
        error = response.json()["error"]
        message = f"{error['code']}: {error['message']}"
    except (ValueError, KeyError, TypeError):
        message = f"HTTP {response.status_code}"
    raise ConfigError(f"the server at {url} refused the upload ({message})")


def upload_paths(
    config: RagConfig,
    paths: Sequence[Path],
    url: str,
    key: str | None,
    progress: Progress,
    *,
    poll_s: float = 0.5,
) -> IngestReport:
    """Upload every file under `paths` to knowledge base `config.kb` of the server at
    `url`, a batch per request, and wait for each batch's job.

    Raises:
        IngestError: A path does not exist.
        ConfigError: The server cannot be reached or refuses the request.
    """
    import httpx

    started = time.monotonic()
    found = discover(paths, config.data_dir)
    files = found.files
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    report = IngestReport([FileResult(name, "skipped", reason=why) for name, why in found.skipped])
    progress.start(len(files), "uploading")
    base = url.rstrip("/")
    try:
        with httpx.Client(base_url=base, headers=headers, timeout=300) as client:
            for batch in _batches(files):
                report.results += _send(client, config.kb, batch, progress, poll_s, base)
    except httpx.HTTPError as exc:
        raise ConfigError(f"cannot reach the rag server at {base}: {exc}") from exc
    report.seconds = time.monotonic() - started
    return report


def _send(
    client: Any, kb: str, batch: list[Path], progress: Progress, poll_s: float, url: str
) -> list[FileResult]:
    handles = [path.open("rb") for path in batch]
    try:
        files = [
            ("files", (display(Path(path.name)), handle))
            for path, handle in zip(batch, handles, strict=True)
        ]
        response = client.post(f"/v1/kbs/{kb}/documents", files=files)
    finally:
        for handle in handles:
            handle.close()
    _raise_for(response, url)
    job = response.json()
    done = 0
    while job["state"] not in ("done", "failed"):
        time.sleep(poll_s)
        reply = client.get(f"/v1/jobs/{job['id']}")
        _raise_for(reply, url)
        job = reply.json()
        now = int(job["progress"]["done"])
        if now > done:
            progress.advance(now - done)
            done = now
    if job["state"] == "failed":
        raise IngestError(f"the server's job failed: {job['error']}")
    progress.advance(max(0, len(batch) - done), display(batch[-1]))
    names = {display(Path(path.name)): display(path) for path in batch}
    return [
        FileResult(
            names.get(f["source"], f["source"]), f["status"], f["chunks"], f["reason"], f["doc_id"]
        )
        for f in job["files"]
    ]
