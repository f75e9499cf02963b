"""`/v1/kbs`: list, create, show and delete knowledge bases."""

from __future__ import annotations

from fastapi import APIRouter, Response

from api.errors import ApiError
from api.jobs import Job
from api.routes.deps import ERRORS, CallerDep, ServicesDep
from api.schemas import KbIn, KbList, KbOut
from api.service import Services
from rag.manifest import read_manifest

__all__ = ["kb_out", "router"]

router = APIRouter(prefix="/v1/kbs", tags=["knowledge bases"], responses=ERRORS)


def kb_out(svc: Services, name: str) -> KbOut:
    """A knowledge base's description and counts (blocking)."""
    known = svc.rag.kbs()
    if name not in known:
        raise ApiError("kb_not_found", f"no knowledge base {name!r}; create it with POST /v1/kbs")
    manifest = read_manifest(svc.config.data_dir)
    index = svc.rag.kb(name).index
    fingerprint = manifest.embedder if manifest else svc.rag.embedder.fingerprint
    return KbOut(
        name=name,
        description=known[name].get("description", ""),
        created_at=known[name].get("created_at", ""),
        embedder=fingerprint.name,
        dimension=fingerprint.dimension,
        documents=index.count_documents(),
        chunks=index.count_chunks(),
    )


@router.get("", response_model=KbList, summary="The knowledge bases this key may read")
async def list_kbs(svc: ServicesDep, principal: CallerDep) -> KbList:
    def listing() -> KbList:
        names = [n for n in sorted(svc.rag.kbs()) if principal is None or principal.reaches(n)]
        return KbList(kbs=[kb_out(svc, n) for n in names])

    return await svc.run(listing)


@router.post("", response_model=KbOut, status_code=201, summary="Create a knowledge base")
async def create_kb(
    body: KbIn,
    response: Response,
    svc: ServicesDep,
    principal: CallerDep,
) -> KbOut:
    svc.authorize(principal, body.name, "admin")
    if body.name in svc.rag.kbs():
        raise ApiError("kb_exists", f"knowledge base {body.name!r} exists already")

    def create(job: Job) -> None:
        svc.rag.kb(body.name, create=body.description)

    job = await svc.write(body.name, "kb", create)
    if job.error:
        raise ApiError("invalid_request", job.error)
    response.headers["Location"] = f"/v1/kbs/{body.name}"
    return await svc.run(kb_out, svc, body.name)


@router.get("/{kb}", response_model=KbOut, summary="A knowledge base's description and counts")
async def show_kb(kb: str, svc: ServicesDep) -> KbOut:
    return await svc.run(kb_out, svc, kb)


@router.delete("/{kb}", status_code=204, summary="Delete a knowledge base and its documents")
async def delete_kb(kb: str, svc: ServicesDep) -> Response:
    if kb not in svc.rag.kbs():
        raise ApiError("kb_not_found", f"no knowledge base {kb!r}")

    def drop(job: Job) -> None:
        svc.rag.drop_kb(kb)

    job = await svc.write(kb, "kb", drop)
    if job.error:
        raise ApiError("invalid_request", job.error)
    return Response(status_code=204)
