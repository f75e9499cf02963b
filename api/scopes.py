"""Who may call a route, declared where the route is declared (C14).

Every route states its scope in its signature or decorator, and `/openapi.json` shows it:
- `Reader`, `Writer`, `Admin`: a parameter that needs a key with that role (on the path's
  `{kb}` when it has one) and gives the handler the caller's `Principal`; in the schema, the
  operation's `security` is the bearer scheme with the role.
- `PUBLIC`: the decorator's `openapi_extra` for a route anyone may call (`security: []`).

A route that declares neither is closed: `tests/api/test_auth.py` walks the schema and fails
on it, and the middleware (`api.middleware`), which authenticates every key before a body is
read, lets through without a key only the paths `public_paths` finds declared `PUBLIC`.

Example:
    >>> @router.post("/kbs/{kb}/documents")  # doctest: +SKIP
    ... async def add_documents(kb: str, principal: Writer) -> JobOut: ...
    >>> @router.get("/healthz", openapi_extra=PUBLIC)  # doctest: +SKIP
    ... async def healthz() -> Health: ...
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer, SecurityScopes
from starlette.routing import BaseRoute

from api.auth import ROLES, Principal, Role
from api.errors import ApiError
from api.middleware import principal_of

__all__ = ["PUBLIC", "Admin", "Reader", "Writer", "authorized", "public_paths"]

PUBLIC: dict[str, Any] = {"security": []}  # OpenAPI: this operation needs no credentials

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="apiKey",
    description="An API key from `api.keys`: `Authorization: Bearer KEY` (or `X-API-Key: KEY`). "
    "The role each route needs is listed in its security requirement.",
)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def _role(scopes: SecurityScopes) -> Role:
    role = scopes.scopes[-1] if scopes.scopes else ""
    for known in ROLES:
        if role == known:
            return known
    raise RuntimeError(f"a route declares scope {role!r}; use one of {', '.join(ROLES)}")


def authorized(request: Request, scopes: SecurityScopes, _: Credentials) -> Principal | None:
    """The caller, when its key has the route's role (on the path's `{kb}`, if any).

    Raises:
        ApiError: unauthorized without a key (a path the middleware let through as public
            that declares a role), forbidden when the key's role or knowledge bases fall short.
    """
    role = _role(scopes)
    principal = principal_of(request.scope)
    if principal is None:
        raise ApiError(
            "unauthorized", "a valid API key is needed: send `Authorization: Bearer KEY`"
        )
    kb = request.path_params.get("kb")
    if not principal.allows(kb, role):
        where = f" on knowledge base {kb!r}" if kb else ""
        raise ApiError("forbidden", f"this key may not {role}{where}")
    return principal


Reader = Annotated[Principal | None, Security(authorized, scopes=["read"])]
Writer = Annotated[Principal | None, Security(authorized, scopes=["write"])]
Admin = Annotated[Principal | None, Security(authorized, scopes=["admin"])]


def public_paths(routes: Iterable[BaseRoute]) -> tuple[frozenset[str], tuple[str, ...]]:
    """The paths (and, for `{name:path}` routes, the prefixes) declared `PUBLIC`."""
    from fastapi.routing import iter_route_contexts

    paths, prefixes = set(), []
    for route in iter_route_contexts(list(routes)):
        extra = getattr(route, "openapi_extra", None) or {}
        if extra.get("security") == [] and route.path is not None:
            head, sep, _ = route.path.partition("{")
            if sep and route.path.endswith(":path}"):
                prefixes.append(head)
            elif not sep:
                paths.add(route.path)
    return frozenset(paths), tuple(prefixes)
