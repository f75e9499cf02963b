"""Documents of a knowledge base (`/v1/kbs/{kb}/documents`) and the jobs that write them
(`/v1/jobs/{id}`). Uploads and texts are ingested by a background job (202 + job id);
deletes go through the same writer and return when done: a query straight after never
finds the document."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from starlette.datastructures import UploadFile

from api.errors import ApiError
from api.jobs import Job, JobProgress
from api.routes.deps import ERRORS, ServicesDep
from api.schemas import DocumentList, DocumentOut, JobFile, JobOut, TextDocumentIn
from api.scopes import Reader, Writer
from api.service import Services
from api.uploads import save_uploads
from ingest.jobs import run_document_job, runnable
from ingest.run import IngestReport
from rag.manifest import iso_time
from rag.state.base import JobRecord
from rag.summary import summary_id

__all__ = ["job_out", "router"]

router = APIRouter(prefix="/v1", tags=["documents"], responses=ERRORS)

_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "files": {"type": "array", "items": {"type": "string", "format": "binary"}}
                    },
                    "required": ["files"],
                }
            },
            "application/json": {"schema": {"$ref": "#/components/schemas/TextDocumentIn"}},
        },
    }
}


def job_out(job: Job) -> JobOut:
    return JobOut(
        id=job.id,
        kb=job.kb,
        kind=job.kind,
        state=job.state,
        progress={
            "done": job.done_steps,
            "total": job.total_steps,
            "chunks_embedded": job.chunks_embedded,
            "chunks_found": job.chunks_found,
        },
        files=[
            JobFile(
                source=r.source,
                status=r.status,
                doc_id=r.doc_id,
                chunks=r.chunks,
                reason=r.reason,
                code=r.code,
            )
            for r in job.results
        ],
        error=job.error,
        created_at=iso_time(job.created_at),
        finished_at=None if job.finished_at is None else iso_time(job.finished_at),
        attempts=job.attempts,
        worker=job.worker,
    )


async def _known(svc: Services, kb: str) -> None:
    if kb not in await svc.run(svc.runtime.kbs):  # the manifest is read off the event loop
        raise ApiError("kb_not_found", f"no knowledge base {kb!r}; create it with POST /v1/kbs")


@router.post(
    "/kbs/{kb}/documents",
    status_code=202,
    response_model=JobOut,
    summary="Add documents: files (multipart, field `files`) or one text (JSON)",
    openapi_extra=_UPLOAD_BODY,
)
async def add_documents(
    kb: str, request: Request, response: Response, svc: ServicesDep, _: Writer
) -> JobOut:
    await _known(svc, kb)
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "multipart/form-data":
        job = await _upload_job(svc, kb, request)
    elif kind == "application/json":
        job = await _text_job(svc, kb, request)
    else:
        raise ApiError(
            "unsupported_media_type",
            "send files as multipart/form-data (field `files`) or one text as application/json",
        )
    svc.submit(job)
    response.headers["Location"] = f"/v1/jobs/{job.id}"
    return job_out(job)


async def _upload_job(svc: Services, kb: str, request: Request) -> Job:
    api = svc.config.api
    form = await request.form(max_files=api.max_files, max_fields=api.max_files + 10)
    try:
        uploads = [f for f in form.getlist("files") if isinstance(f, UploadFile)]
        if not uploads:
            raise ApiError("invalid_request", "no files: send them in the multipart field `files`")
        batch, saved = await save_uploads(uploads, svc.staging, int(api.max_file_mb * 1e6))
    finally:
        await form.close()
    redo = {
        "uploads": [[s.name, s.stored] for s in saved if s.stored is not None],
        "refused": [[s.name, s.reason, s.code] for s in saved if s.stored is None],
    }
    return _document_job(svc, kb, redo, batch)


def _document_job(svc: Services, kb: str, redo: dict[str, Any], batch: str | None) -> Job:
    target = svc.runtime.kb(kb)

    def work(job: Job) -> IngestReport:
        return run_document_job(target, svc.staging, batch, redo, JobProgress(job))

    return Job(kb, "ingest", work, temp_dir=batch, redo=redo)


def restore(svc: Services, stored: JobRecord) -> Job | None:
    """A job a stopped server left unfinished, ready to run again; None when it cannot
    (its uploaded files are gone, or it is not a document job)."""
    if stored.kb not in svc.runtime.kbs() or not runnable(
        stored.redo, stored.temp_dir, svc.staging
    ):
        return None
    assert stored.redo is not None  # runnable
    return _document_job(svc, stored.kb, stored.redo, stored.temp_dir)


async def _text_job(svc: Services, kb: str, request: Request) -> Job:
    try:
        body = TextDocumentIn.model_validate_json(await request.body())
    except ValueError as exc:
        raise ApiError("validation_error", f"invalid text document: {exc}") from None
    title = str(body.metadata.get("title", ""))
    return _document_job(svc, kb, {"text": body.text, "source": body.source, "title": title}, None)


@router.get("/jobs/{job_id}", response_model=JobOut, summary="A document job's state and results")
async def show_job(job_id: str, svc: ServicesDep, principal: Reader) -> JobOut:
    job = svc.jobs.get(job_id)
    if job is None:
        raise ApiError("job_not_found", f"no job {job_id!r} (finished jobs are kept a while)")
    svc.authorize(principal, job.kb, "read")
    return job_out(job)


@router.post(
    "/jobs/{job_id}/cancel",
    response_model=JobOut,
    summary="Cancel a document job: a queued one fails now, a running one stops at its next file",
)
async def cancel_job(job_id: str, svc: ServicesDep, principal: Writer) -> JobOut:
    job = _job(svc, job_id)
    svc.authorize(principal, job.kb, "write")
    if job.state in ("done", "failed"):
        raise ApiError("job_finished", f"job {job_id} is {job.state} already")
    return job_out(await svc.run(svc.jobs.cancel, job))


@router.post(
    "/jobs/{job_id}/retry",
    status_code=202,
    response_model=JobOut,
    summary="Run a failed document job again (its uploaded files are kept until it is forgotten)",
)
async def retry_job(job_id: str, svc: ServicesDep, principal: Writer) -> JobOut:
    job = _job(svc, job_id)
    svc.authorize(principal, job.kb, "write")
    if job.state != "failed":
        raise ApiError(
            "job_not_retryable", f"job {job_id} is {job.state}: only a failed job runs again"
        )
    stored = await svc.run(svc.jobs.record_of, job_id)
    again = None if svc.shared or stored is None else restore(svc, stored)
    if stored is None or not runnable(stored.redo, stored.temp_dir, svc.staging):
        raise ApiError(
            "job_not_retryable",
            f"job {job_id} cannot run again: its uploaded files are gone or it is not a "
            "document job; send the files again",
        )
    retried = await svc.run(svc.jobs.retry, job, again)
    if retried is None:
        raise ApiError("job_not_retryable", f"job {job_id} is not failed any more")
    return job_out(retried)


def _job(svc: Services, job_id: str) -> Job:
    job = svc.jobs.get(job_id)
    if job is None:
        raise ApiError("job_not_found", f"no job {job_id!r} (finished jobs are kept a while)")
    return job


@router.get(
    "/kbs/{kb}/documents",
    response_model=DocumentList,
    summary="A knowledge base's documents, paged",
)
async def list_documents(
    kb: str,
    svc: ServicesDep,
    _: Reader,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    source_prefix: Annotated[str | None, Query(max_length=1000)] = None,
) -> DocumentList:
    await _known(svc, kb)

    def listing() -> DocumentList:
        index = svc.runtime.kb(kb).index
        docs = [
            d for d in index.documents() if not source_prefix or d.source.startswith(source_prefix)
        ]
        page = docs[offset : offset + limit]
        return DocumentList(
            documents=[
                DocumentOut(
                    doc_id=d.doc_id,
                    kb=kb,
                    source=d.source,
                    title=d.title,
                    version=d.version,
                    chunks=d.n_chunks,
                )
                for d in page
            ],
            total=len(docs),
            offset=offset,
            limit=limit,
        )

    return await svc.run(listing)


@router.get(
    "/kbs/{kb}/documents/{doc_id:path}",
    response_model=DocumentOut,
    summary="One document: metadata, chunk count, summary",
)
async def show_document(kb: str, doc_id: str, svc: ServicesDep, _: Reader) -> DocumentOut:
    await _known(svc, kb)

    def show() -> DocumentOut:
        index = svc.runtime.kb(kb).index
        record = index.document(doc_id)
        if record is None:
            raise ApiError("document_not_found", f"no document {doc_id!r} in knowledge base {kb!r}")
        found = index.stores[1].get([summary_id(record.doc_id, record.version)])
        return DocumentOut(
            doc_id=record.doc_id,
            kb=kb,
            source=record.source,
            title=record.title,
            version=record.version,
            chunks=record.n_chunks,
            summary=found[0].text if found else None,
        )

    return await svc.run(show)


@router.delete(
    "/kbs/{kb}/documents/{doc_id:path}",
    status_code=204,
    summary="Delete a document from every index",
)
async def delete_document(kb: str, doc_id: str, svc: ServicesDep, _: Writer) -> Response:
    await _known(svc, kb)
    removed: list[bool] = []

    def delete(job: Job) -> None:
        index = svc.runtime.kb(kb).index
        record = index.document(doc_id)
        removed.append(index.delete_document(doc_id))
        if record is not None and record.file:
            index.forget_file(record.file)

    job = await svc.write(kb, "delete", delete)
    if job.error:
        raise ApiError("invalid_request", job.error)
    if not removed or not removed[0]:
        raise ApiError("document_not_found", f"no document {doc_id!r} in knowledge base {kb!r}")
    return Response(status_code=204)
