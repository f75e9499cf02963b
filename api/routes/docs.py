"""The interactive API docs, served from local files (Swagger UI from the
`swagger-ui-bundle` package; FastAPI's default page loads it from a CDN, blank offline).

`/docs`, its files under `/docs/static/` and `/openapi.json` need no key: they describe the
API and hold no data. Every operation in the schema names the key it needs (the bearer
scheme, `api.scopes`), so "Authorize" with a key in the page and "Try it out" calls the API
with it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse

from api.errors import ApiError
from api.scopes import PUBLIC

__all__ = ["STATIC_PREFIX", "router"]

STATIC_PREFIX = "/docs/static/"
_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".png": "image/png",
}

router = APIRouter(include_in_schema=False)


def _folder() -> Path:
    from swagger_ui_bundle import swagger_ui_path

    return Path(str(swagger_ui_path)).resolve()


@router.get("/openapi.json", openapi_extra=PUBLIC)
async def openapi(request: Request) -> dict[str, Any]:
    schema: dict[str, Any] = request.app.openapi()
    return schema


@router.get("/docs", openapi_extra=PUBLIC)
async def docs(request: Request) -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url="/openapi.json",
        title=f"{request.app.title} API",
        swagger_js_url=STATIC_PREFIX + "swagger-ui-bundle.js",
        swagger_css_url=STATIC_PREFIX + "swagger-ui.css",
        swagger_favicon_url=STATIC_PREFIX + "favicon-32x32.png",
        swagger_ui_parameters={"persistAuthorization": True},
    )


@router.get(STATIC_PREFIX + "{name:path}", openapi_extra=PUBLIC)
async def docs_file(name: str) -> FileResponse:
    folder = _folder()
    path = (folder / name).resolve()
    if not path.is_relative_to(folder) or not path.is_file() or path.suffix not in _TYPES:
        raise ApiError("not_found", f"no docs file {name!r}")
    return FileResponse(path, media_type=_TYPES[path.suffix])
