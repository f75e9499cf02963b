"""JSON errors with stable codes: `{"error": {"code", "message", "request_id"}}`.

Every error the service answers with has one of the codes below; a client branches on the
code, a person reads the message (which says what to do). No stack trace is ever sent: an
unexpected exception is logged with its request id and answered `internal_error`.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

from rag.errors import (
    ConfigError,
    DatabaseUnavailableError,
    EmptyIndexError,
    GenerationError,
    IndexLockedError,
    IndexMismatchError,
    IngestError,
    InvalidRequestError,
    KnowledgeBaseNotFoundError,
    ModelUnavailableError,
    ModelUnreachableError,
    RagError,
    StoreError,
)

__all__ = ["CODES", "ApiError", "ErrorBody", "ErrorResponse", "from_rag_error"]

# code -> HTTP status; the list of every code the service answers with.
CODES: dict[str, int] = {
    "invalid_request": 400,
    "unsupported_field": 400,
    "unauthorized": 401,
    "forbidden": 403,
    "not_found": 404,
    "kb_not_found": 404,
    "model_not_found": 404,
    "document_not_found": 404,
    "job_not_found": 404,
    "method_not_allowed": 405,
    "request_timeout": 408,
    "kb_exists": 409,
    "job_finished": 409,
    "job_not_retryable": 409,
    "empty_index": 409,
    "index_mismatch": 409,
    "payload_too_large": 413,
    "unsupported_media_type": 415,
    "validation_error": 422,
    "ingest_failed": 422,
    "overloaded": 429,
    "internal_error": 500,
    "generation_failed": 502,
    "model_unavailable": 503,
    "store_unavailable": 503,
    "database_unavailable": 503,
    "index_locked": 503,
    "timeout": 504,
}


@dataclass
class ApiError(Exception):
    """An error answered as JSON with `code` (one of `CODES`) and its status."""

    code: str
    message: str
    headers: dict[str, str] | None = None
    param: str | None = None  # the request field at fault, where one is

    def __post_init__(self) -> None:
        if self.code not in CODES:
            raise ValueError(f"unknown error code {self.code!r}; add it to CODES")

    @property
    def status(self) -> int:
        return CODES[self.code]

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class ErrorBody(BaseModel):
    code: str
    message: str
    request_id: str


class ErrorResponse(BaseModel):
    """Every error response."""

    error: ErrorBody


# Most specific first: the first class an exception is an instance of decides.
_RAG_CODES: tuple[tuple[type[RagError], str], ...] = (
    (KnowledgeBaseNotFoundError, "kb_not_found"),
    (InvalidRequestError, "invalid_request"),
    (ConfigError, "invalid_request"),
    (EmptyIndexError, "empty_index"),
    (IndexLockedError, "index_locked"),
    (IndexMismatchError, "index_mismatch"),
    (DatabaseUnavailableError, "database_unavailable"),
    (StoreError, "store_unavailable"),
    (ModelUnreachableError, "model_unavailable"),
    (ModelUnavailableError, "model_unavailable"),
    (GenerationError, "generation_failed"),
    (IngestError, "ingest_failed"),
)


# Passing conditions: a client may send the request again after this many seconds.
_RETRY = {"database_unavailable": {"Retry-After": "5"}}


def from_rag_error(exc: RagError) -> ApiError:
    """The API error for one of our exceptions."""
    for cls, code in _RAG_CODES:
        if isinstance(exc, cls):
            return ApiError(code, str(exc), _RETRY.get(code))
    return ApiError("internal_error", "the server failed; see its log for the request id")
