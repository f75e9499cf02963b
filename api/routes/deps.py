"""What route handlers share: the services, the caller, the error responses they document."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request

from api.errors import CODES, ErrorResponse
from api.service import Services

__all__ = ["ERRORS", "ServicesDep", "services"]


def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


def _errors() -> dict[int | str, dict[str, Any]]:
    statuses = sorted(set(CODES.values()))
    return {
        status: {
            "model": ErrorResponse,
            "description": ", ".join(sorted(c for c, s in CODES.items() if s == status)),
        }
        for status in statuses
    }


# Every route documents every error status: a client (or schemathesis) can rely on it.
ERRORS = _errors()


ServicesDep = Annotated[Services, Depends(services)]
