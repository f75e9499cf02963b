"""The web page: `/` and its files under `/ui/` (HTML, CSS and JavaScript modules kept in
`api/web/`, no build step). Served without a key; the page asks for one when the API
needs it. Its Content-Security-Policy allows nothing but this server, so the page makes
no request elsewhere (it works air-gapped)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

from api.errors import ApiError
from api.scopes import PUBLIC

__all__ = ["PAGE_PREFIX", "WEB_DIR", "router"]

WEB_DIR = Path(__file__).resolve().parents[1] / "web"
PAGE_PREFIX = "/ui/"
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}
_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
_HEADERS = {
    "Content-Security-Policy": _POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}

router = APIRouter(include_in_schema=False)


def _file(relative: str) -> FileResponse:
    path = (WEB_DIR / relative).resolve()
    if not path.is_relative_to(WEB_DIR) or not path.is_file() or path.suffix not in _TYPES:
        raise ApiError("not_found", f"no page file {relative!r}")
    return FileResponse(path, media_type=_TYPES[path.suffix], headers=_HEADERS)


@router.get("/", openapi_extra=PUBLIC)
async def page() -> FileResponse:
    return _file("index.html")


@router.get(PAGE_PREFIX + "{name:path}", openapi_extra=PUBLIC)
async def page_file(name: str) -> FileResponse:
    return _file(name)
