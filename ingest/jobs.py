"""A document job's work, from its stored description alone: what the service's writer
runs in the embedded profile and what `rag worker` runs on any host in the shared one.

A job is data (`JobRecord.redo` and its upload batch), never a closure: any process that
reaches the state can run it, run it again after a crash (every step is idempotent:
content-hashed document ids and chunk ids, upserts, the vector cache), or say why it cannot.

- uploads: `{"uploads": [[name, stored name], ...], "refused": [[name, reason, code], ...]}`
  with the files in the job's upload batch (`JobRecord.temp_dir`);
- text: `{"text": ..., "source": ..., "title": ...}`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ingest.progress import Progress
from ingest.run import FileResult, IngestReport, ingest_text, ingest_uploads
from rag.knowledge_base import KnowledgeBase
from rag.state.base import UploadStaging

__all__ = ["result_row", "run_document_job", "runnable"]


def runnable(redo: dict[str, Any] | None, batch: str | None, staging: UploadStaging) -> bool:
    """Whether a stored job can run (again): a text, or uploads whose batch still exists."""
    if redo is None:
        return False
    if "uploads" in redo:
        return not redo["uploads"] or (batch is not None and batch in staging.batches())
    return "text" in redo


def run_document_job(
    kb: KnowledgeBase,
    staging: UploadStaging,
    batch: str | None,
    redo: dict[str, Any],
    progress: Progress,
) -> IngestReport:
    """Ingest what the job describes into `kb`.

    Raises:
        IngestError: A text job's text is empty.
        ValueError: `redo` describes no document job.
    """
    if "text" in redo:
        return ingest_text(kb, redo["text"], redo["source"], redo["title"], progress=progress)
    if "uploads" not in redo:
        raise ValueError(f"not a document job: {sorted(redo)}")
    refused = [
        FileResult(name, "failed", reason=reason, code=code[0] if code else "")
        for name, reason, *code in redo["refused"]  # jobs queued before failure codes: none
    ]
    report = IngestReport()
    if redo["uploads"] and batch is not None:
        with staging.open(batch) as folder:
            # a job stored by an earlier release names its files by full path: same names
            accepted = [(name, folder / Path(stored).name) for name, stored in redo["uploads"]]
            report = ingest_uploads(kb, accepted, progress=progress)
    report.results[:0] = refused
    return report


def result_row(result: FileResult) -> dict[str, Any]:
    """One file's result as the job store keeps it (`FileResult(**row)` reads it back)."""
    return {
        "source": result.source,
        "status": result.status,
        "chunks": result.chunks,
        "reason": result.reason,
        "doc_id": result.doc_id,
        "code": result.code,
    }
