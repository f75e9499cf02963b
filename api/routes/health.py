"""`/healthz` (the process answers), `/readyz` (it can serve), `/metrics` (Prometheus)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Response, Security
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from api.routes.deps import ERRORS, ServicesDep
from api.scopes import PUBLIC, authorized
from api.service import Services

__all__ = ["router"]

router = APIRouter(tags=["operations"], responses=ERRORS)


class Health(BaseModel):
    status: Literal["ok"]


class Ready(BaseModel):
    status: Literal["ready", "degraded", "unavailable"]
    checks: dict[str, str]
    reasons: list[str]


@router.get("/healthz", response_model=Health, summary="The process is alive", openapi_extra=PUBLIC)
async def healthz() -> Health:
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Ready,
    summary="Index open, embedder loaded, generator reachable; degraded says why",
    responses={503: {"model": Ready, "description": "not ready"}},
    openapi_extra=PUBLIC,
)
async def readyz(svc: ServicesDep) -> Any:
    def check() -> Ready:
        checks: dict[str, str] = {}
        reasons = []
        try:
            svc.runtime.kb().index.count_documents()
            checks["index"] = "ok"
        except Exception as exc:  # noqa: BLE001 - readiness reports any failure
            checks["index"] = "failed"
            reasons.append(f"the index cannot be read: {exc}")
        checks["embedder"] = "ok" if svc.runtime.embedder.fingerprint.dimension else "failed"
        problem = svc.model_problem()
        if svc.runtime.backend is None:
            checks["generator"] = "none"
        else:
            checks["generator"] = "ok" if problem is None else "unreachable"
            if problem:
                reasons.append(f"{problem}; answers are extractive until it is back")
        checks["jobs"] = f"{svc.jobs.depth} queued or running"
        checks["consistency"], problems = _consistency(svc)
        reasons += problems
        status: Literal["ready", "degraded", "unavailable"] = "ready"
        if checks["index"] != "ok":
            status = "unavailable"
        elif reasons:
            status = "degraded"
        return Ready(status=status, checks=checks, reasons=reasons)

    ready = await svc.run(check)
    return JSONResponse(
        ready.model_dump(), status_code=503 if ready.status == "unavailable" else 200
    )


def _consistency(svc: Services) -> tuple[str, list[str]]:
    """The start-up `rag doctor` check: checking, ok, repaired, damaged or failed."""
    if svc.consistency_error:
        return "failed", [f"the start-up index check failed: {svc.consistency_error}"]
    if svc.consistency is None:
        return "checking", []
    found = [(c.kb, f) for c in svc.consistency for f in c.findings]
    if not found:
        return "ok", []
    damaged = [(kb, f) for kb, f in found if not f.repaired]
    if not damaged:
        return "repaired: " + ", ".join(f"{kb} {f.kind} {f.count}" for kb, f in found), []
    return "damaged", [
        f"knowledge base {kb}: {f.count} {f.kind}; stop the server and run `rag doctor --fix`"
        for kb, f in damaged
    ]


async def metrics(svc: ServicesDep) -> Response:
    svc.metrics.jobs_queued.set(await svc.run(lambda: svc.jobs.depth))  # may read the store
    body, content_type = svc.metrics.render()
    return Response(body, media_type=content_type)


def metrics_router(public: bool) -> APIRouter:
    """`GET /metrics`, declared public (`api.metrics_public`, the default) or for `read` keys."""
    metrics_routes = APIRouter(tags=["operations"], responses=ERRORS)
    metrics_routes.add_api_route(
        "/metrics",
        metrics,
        methods=["GET"],
        summary="Prometheus metrics (text exposition format)",
        response_class=Response,
        responses={200: {"content": {"text/plain": {}}}},
        openapi_extra=PUBLIC if public else None,
        dependencies=[] if public else [Security(authorized, scopes=["read"])],
    )
    return metrics_routes
