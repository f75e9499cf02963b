"""`/v1/kbs`: list, create, show and delete knowledge bases."""

from __future__ import annotations

from fastapi import APIRouter, Response

from api.errors import ApiError
from api.jobs import Job
from api.routes.deps import ERRORS, ServicesDep
from api.schemas import KbIn, KbList, KbOut
from api.scopes import Admin, Reader
from api.service import Services
from rag.manifest import iso_time

__all__ = ["kb_out", "router"]

router = APIRouter(prefix="/v1/kbs", tags=["knowledge bases"], responses=ERRORS)


def kb_out(svc: Services, name: str) -> KbOut:
    """A knowledge base's description and counts (blocking)."""
    manifest = svc.runtime.state.registry().read()
    known = svc.runtime.kbs() if manifest is None else manifest.kbs
    if name not in known:
        raise ApiError("kb_not_found", f"no knowledge base {name!r}; create it with POST /v1/kbs")
    index = svc.runtime.kb(name).index
    fingerprint = manifest.embedder if manifest else svc.runtime.embedder.fingerprint
    return KbOut(
        name=name,
        description=known[name].get("description", ""),
        created_at=iso_time(known[name].get("created_at", "")),
        embedder=fingerprint.name,
        dimension=fingerprint.dimension,
        documents=index.count_documents(),
        chunks=index.count_chunks(),
    )


@router.get("", response_model=KbList, summary="The knowledge bases this key may read")
async def list_kbs(svc: ServicesDep, principal: Reader) -> KbList:
    def listing() -> KbList:
        names = [n for n in sorted(svc.runtime.kbs()) if principal is None or principal.reaches(n)]
        return KbList(kbs=[kb_out(svc, n) for n in names])

    return await svc.run(listing)


@router.post("", response_model=KbOut, status_code=201, summary="Create a knowledge base")
async def create_kb(
    body: KbIn,
    response: Response,
    svc: ServicesDep,
    principal: Admin,
) -> KbOut:
    svc.authorize(principal, body.name, "admin")
    if body.name in await svc.run(svc.runtime.kbs):
        raise ApiError("kb_exists", f"knowledge base {body.name!r} exists already")

    def create(job: Job) -> None:
        svc.runtime.kb(body.name, create=body.description)

    job = await svc.write(body.name, "kb", create)
    if job.error:
        raise ApiError("invalid_request", job.error)
    response.headers["Location"] = f"/v1/kbs/{body.name}"
    return await svc.run(kb_out, svc, body.name)


@router.get("/{kb}", response_model=KbOut, summary="A knowledge base's description and counts")
async def show_kb(kb: str, svc: ServicesDep, _: Reader) -> KbOut:
    return await svc.run(kb_out, svc, kb)


@router.delete("/{kb}", status_code=204, summary="Delete a knowledge base and its documents")
async def delete_kb(kb: str, svc: ServicesDep, _: Admin) -> Response:
    if kb not in await svc.run(svc.runtime.kbs):
        raise ApiError("kb_not_found", f"no knowledge base {kb!r}")

    def drop(job: Job) -> None:
        svc.runtime.drop_kb(kb)

    job = await svc.write(kb, "kb", drop)
    if job.error:
        raise ApiError("invalid_request", job.error)
    return Response(status_code=204)
