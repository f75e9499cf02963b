"""The FastAPI app factory: `create_app(config)`; nothing happens at import.

Started by `rag serve`, or by `uvicorn --factory api.app:create_app` (which reads
`rag.toml` and the `RAG_` environment, as the CLI does). The components are built once
when the app starts (its lifespan) and closed when it stops.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.errors import ApiError, from_rag_error
from api.metrics import Metrics
from api.middleware import RequestContext
from api.service import Services, build_services, write_server_note
from rag.config import RagConfig, load_config
from rag.errors import RagError

__all__ = ["create_app"]

logger = logging.getLogger(__name__)

_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}


# The OpenAI-compatible routes answer errors as OpenAI does: 400 for a body that does not
# validate (the SDK raises BadRequestError), with `type` and `param` beside our code.
_OPENAI_PATHS = ("/v1/chat/completions", "/v1/models")


def _openai_type(status: int) -> str:
    kinds = {401: "authentication_error", 403: "permission_error", 429: "rate_limit_error"}
    return kinds.get(status, "invalid_request_error" if status < 500 else "server_error")


def _json_error(request: Request, error: ApiError, param: str | None = None) -> JSONResponse:
    request_id = getattr(request.state, "request_id", "-")
    fields: dict[str, object] = {"code": error.code, "message": error.message}
    if request.url.path.startswith(_OPENAI_PATHS):
        fields |= {"type": _openai_type(error.status), "param": param}
    body = {"error": {**fields, "request_id": request_id}}
    if error.status < 500:
        logger.info(
            "request %s answered %d %s: %s", request_id, error.status, error.code, error.message
        )
    return JSONResponse(body, status_code=error.status, headers=error.headers)


def _where(error: Mapping[str, Any]) -> str:
    return ".".join(str(p) for p in error.get("loc", ()) if p != "body") or "body"


def _validation_message(exc: RequestValidationError) -> str:
    problems = []
    for error in exc.errors()[:10]:
        if error.get("type") == "json_invalid":
            reason = (error.get("ctx") or {}).get("error", "")
            return f"the body is not valid JSON ({reason}); send a JSON object"
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        problems.append(f"{_where(error)}: {message}")
    return "invalid request: " + "; ".join(problems)


def _install_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return _json_error(request, exc, exc.param)

    @app.exception_handler(RagError)
    async def rag_error(request: Request, exc: RagError) -> JSONResponse:
        error = from_rag_error(exc)
        if error.code == "internal_error":
            logger.error("request %s failed: %s", request.state.request_id, exc)
        return _json_error(request, error)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        message = _validation_message(exc)
        if request.url.path.startswith(_OPENAI_PATHS):
            errors = exc.errors()
            param = (
                _where(errors[0]) if errors and errors[0].get("type") != "json_invalid" else None
            )
            return _json_error(request, ApiError("invalid_request", message), param)
        return _json_error(request, ApiError("validation_error", message))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "invalid_request")
        return _json_error(request, ApiError(code, str(exc.detail)))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("request %s failed", getattr(request.state, "request_id", "-"))
        return _json_error(
            request,
            ApiError("internal_error", "the server failed; its log has this request id"),
        )


def create_app(
    config: RagConfig | None = None, *, services: Services | None = None, url: str = ""
) -> FastAPI:
    """The service for `config` (default: `load_config()`, as the CLI reads it).

    The components are built when the app starts, not here: creating the app is cheap and
    touches nothing. `services` already built (by `rag serve`, so that a locked index or
    a missing model is reported before the server starts) are used instead, and closed
    when the app stops; `url` is where it listens, written to `<data_dir>/server.json`
    so that a command refused by the server's lock can name it.
    """
    from api.routes import docs, documents, health, kbs, openai, query, web

    if services is not None:
        config = services.config
    config = config if config is not None else load_config()
    metrics = services.metrics if services is not None else Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        built = services or build_services(config, metrics)
        app.state.services = built
        if built.runtime.writable and not built.shared:  # shared: the workers run every job
            restarted, failed = built.jobs.recover(lambda stored: documents.restore(built, stored))
            if restarted or failed:
                logger.warning(
                    "jobs a stopped server left: %d restarted, %d marked failed", restarted, failed
                )
        note = (
            write_server_note(config.data_dir, url)
            if built.runtime.writable and not built.shared
            else None
        )
        try:
            yield
        finally:
            if note is not None:
                note.unlink(missing_ok=True)
            built.close()

    app = FastAPI(
        title="rag",
        summary="Answers from your documents, with citations (Chinese and English)",
        version=_version(),
        lifespan=lifespan,
        # /docs and /openapi.json are ours (api.routes.docs): local files, no CDN, no key
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.config = config
    _install_handlers(app)
    for module in (query, kbs, documents, openai, health, docs):
        app.include_router(module.router)
    app.include_router(health.metrics_router(config.api.metrics_public))
    if config.api.web_page:
        app.include_router(web.router)
    from api.auth import KeyRing
    from api.scopes import public_paths

    # What may be called without a key is what the routes declare PUBLIC (api.scopes).
    public, prefixes = public_paths(app.routes)

    app.add_middleware(
        RequestContext,
        keys=KeyRing.from_config(config.api.keys),
        public=frozenset(public),
        public_prefixes=prefixes,
        max_body=int(config.api.max_body_mb * 1e6),
        metrics=metrics,
        body_timeout_s=config.api.body_timeout_s,
    )
    if config.api.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=config.api.cors_origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "X-API-Key", "Content-Type", "X-Request-ID"],
        )
    return app


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("rag-framework")
    except PackageNotFoundError:
        return "0"
