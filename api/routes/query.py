"""`POST /v1/query` (an answer, whole or as Server-Sent Events) and `POST /v1/retrieve`."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from sse_starlette import EventSourceResponse

from api.answering import (
    Asked,
    answer_json,
    ask,
    finished_answer,
    hit_out,
    pump,
    routes_out,
    select_kbs,
    sources,
    to_filters,
)
from api.auth import Principal
from api.errors import ApiError, from_rag_error
from api.middleware import REQUEST_ID, error_body
from api.routes.deps import ERRORS, ServicesDep
from api.schemas import QueryIn, QueryOut, RetrieveIn, RetrieveOut
from api.scopes import Reader
from api.service import Services
from rag.errors import RagError
from rag.types import Answer, Citation

__all__ = ["complete", "disconnected", "prepare", "router"]

router = APIRouter(prefix="/v1", tags=["questions"], responses=ERRORS)


async def prepare(
    svc: Services,
    question: str,
    kb: str | list[str],
    principal: Principal | None,
    *,
    top_k: int | None,
    filters: Any,
    generation: Any,
    history: Any = (),
    whole: bool,
) -> Asked:
    """Select the knowledge bases, search and pack the context, behind the search gate."""
    async with svc.searches.slot():
        selection = await svc.run(select_kbs, svc, kb, question, principal)
        return await svc.run(
            lambda: ask(
                svc,
                question,
                selection,
                top_k=top_k,
                filters=to_filters(filters),
                generation=generation,
                history=history,
                whole=whole,
            )
        )


async def disconnected(request: Request) -> None:
    """Returns when the client closes the connection."""
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


async def _drain(svc: Services, asked: Asked) -> Answer:
    async for _ in pump(svc, asked):
        pass
    assert asked.answer is not None
    return asked.answer


async def complete(svc: Services, asked: Asked, request: Request) -> Answer | None:
    """The whole answer, behind the generation gate; None when the client went away (the
    generation was stopped). Raises ApiError timeout past `api.request_timeout_s`."""
    gate = svc.gate_for(asked.pipeline)
    async with gate.slot():
        work = asyncio.create_task(_drain(svc, asked))
        gone = asyncio.create_task(disconnected(request))
        done, _ = await asyncio.wait(
            {work, gone},
            timeout=svc.config.api.request_timeout_s,
            return_when=asyncio.FIRST_COMPLETED,
        )
        gone.cancel()
        if work in done:
            return finished_answer(svc, asked, work.result())
        asked.cancel.set()
        work.cancel()
        if gone in done:
            svc.metrics.cancelled.inc()
            return None
        limit = svc.config.api.request_timeout_s
        raise ApiError(
            "timeout", f"the answer took longer than api.request_timeout_s ({limit:g} s)"
        )


@router.post(
    "/query",
    response_model=QueryOut,
    summary="Answer a question from one, several or automatically chosen knowledge bases",
    responses={
        200: {
            "content": {"text/event-stream": {}},
            "description": "With stream: true, Server-Sent Events: sources, token..., done "
            "(or error).",
        }
    },
)
async def query(
    body: QueryIn,
    request: Request,
    svc: ServicesDep,
    principal: Reader,
) -> Any:
    asked = await prepare(
        svc,
        body.question,
        body.kb,
        principal,
        top_k=body.top_k,
        filters=body.filters,
        generation=body.generation,
        history=body.history,
        whole=not body.stream,
    )
    if body.stream:
        return EventSourceResponse(_events(svc, asked, body.explain), ping=15)
    answer = await complete(svc, asked, request)
    if answer is None:
        raise ApiError("invalid_request", "the client closed the connection")
    return answer_json(asked, answer, body.explain)


def _context_sources(asked: Asked) -> list[dict[str, Any]]:
    context = [Citation(n, hit) for n, hit in enumerate(asked.prepared.context, 1)]
    fake = Answer("", tuple(context))
    return [s.model_dump() for s in sources(fake, asked.selection)]


async def _events(svc: Services, asked: Asked, explain: bool) -> AsyncIterator[dict[str, str]]:
    """`sources`, then `token`s, then `done` with the whole answer; `error` on failure."""
    gate = svc.gate_for(asked.pipeline)
    try:
        yield {"event": "sources", "data": json.dumps(_context_sources(asked), ensure_ascii=False)}
        async with gate.slot():
            async with asyncio.timeout(svc.config.api.request_timeout_s):
                async for piece in pump(svc, asked):
                    yield {
                        "event": "token",
                        "data": json.dumps({"text": piece}, ensure_ascii=False),
                    }
        assert asked.answer is not None
        answer = finished_answer(svc, asked, asked.answer)
        done = answer_json(asked, answer, explain)
        yield {"event": "done", "data": done.model_dump_json()}
    except (ApiError, RagError, TimeoutError) as exc:
        error = _as_api_error(exc)
        body = error_body(error.code, error.message, REQUEST_ID.get())
        yield {"event": "error", "data": body.decode()}


def _as_api_error(exc: BaseException) -> ApiError:
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, RagError):
        return from_rag_error(exc)
    return ApiError("timeout", "the answer took longer than api.request_timeout_s")


@router.post(
    "/retrieve",
    response_model=RetrieveOut,
    summary="Search only: the hits with every stage's scores, for your own model",
)
async def retrieve(
    body: RetrieveIn,
    svc: ServicesDep,
    principal: Reader,
) -> RetrieveOut:
    started = time.perf_counter()

    def search() -> RetrieveOut:
        selection = select_kbs(svc, body.kb, body.question, principal)
        pipeline = svc.runtime.pipeline_for(selection.kbs)
        k = body.top_k or svc.config.retrieval.top_k
        trace = pipeline.search.trace(body.question, k, filters=to_filters(body.filters))
        return RetrieveOut(
            hits=[hit_out(h, selection.kbs[0]) for h in trace.hits],
            queries=list(trace.queries),
            kbs=list(selection.kbs),
            routes=routes_out(selection),
            timings={"search": round((time.perf_counter() - started) * 1000, 1)},
        )

    async with svc.searches.slot():
        out = await svc.run(search)
    svc.metrics.stage_seconds.labels("retrieval").observe(time.perf_counter() - started)
    return out
