"""Request and response bodies of the service's own routes (the OpenAI ones are in
`api.openai_schemas`). Every field is documented in the OpenAPI schema at /openapi.json."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from rag.config import KB_NAME, GenerationParams
from rag.pipeline import EMPTY_QUESTION

__all__ = [
    "DocumentList",
    "DocumentOut",
    "FiltersIn",
    "GenerationIn",
    "HitOut",
    "JobFile",
    "JobOut",
    "KbIn",
    "KbList",
    "KbOut",
    "QueryIn",
    "QueryOut",
    "RetrieveIn",
    "RetrieveOut",
    "Source",
    "TextDocumentIn",
]

_STRICT = ConfigDict(extra="forbid")

KbSelection = str | Annotated[list[str], Field(min_length=1, max_length=20)]
# The generation backends (rag.generate.BACKENDS; tests/api/test_schema.py checks they agree).
Backend = Literal["none", "ollama", "openai"]
_TEXT = r"[^\s\x1c-\x1f]"  # a character that is not white space (Python's nor Unicode's)


class FiltersIn(BaseModel):
    """Which documents may be returned (both given: both must hold)."""

    model_config = _STRICT
    doc_ids: list[str] | None = Field(None, max_length=1000)
    source_prefix: str | None = Field(None, max_length=1000)


class GenerationIn(GenerationParams):
    """The model and its parameters for this request."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    backend: Backend | None = Field(None, description="Default: the configured one.")
    model: str | None = Field(None, description="Served model or LoRA adapter name.")
    required: bool = Field(
        False, description="Answer 503 model_unavailable instead of the extractive answer."
    )


class _Search(BaseModel):
    model_config = _STRICT
    # The pattern documents the rule in the schema; the validator words the refusal as the
    # CLI does (a regex is no message for a person).
    question: str = Field(min_length=1, max_length=8000, json_schema_extra={"pattern": _TEXT})
    kb: KbSelection = Field(
        "default",
        description='A knowledge base, a list of them (results fused by RRF), or "auto" '
        "(routed by description and document summaries).",
    )
    top_k: int | None = Field(None, gt=0, le=100)
    filters: FiltersIn | None = None

    @field_validator("question")
    @classmethod
    def _not_blank(cls, question: str) -> str:
        if not re.search(_TEXT, question):
            raise ValueError(EMPTY_QUESTION)
        return question


class QueryIn(_Search):
    history: list[tuple[str, str]] = Field(
        default_factory=list,
        max_length=50,
        description="Earlier (question, answer) turns; the question is condensed with them.",
    )
    generation: GenerationIn | Literal["none"] | None = Field(
        None, description='Model settings, or "none" for the extractive answer.'
    )
    stream: bool = Field(False, description="Server-Sent Events: sources, tokens, done.")
    explain: bool = Field(False, description="Add the search trace (queries, stage scores).")


class RetrieveIn(_Search):
    pass


class StageOut(BaseModel):
    stage: str
    score: float
    rank: int


class Source(BaseModel):
    n: int
    kb: str
    doc_id: str
    source: str
    page: int | None
    section: str
    score: float
    confidence: float | None = Field(
        None,
        description="Calibrated probability that the passage is relevant (0-1), comparable "
        "across questions and knowledge bases; `score` ranks within one search only.",
    )
    text: str
    highlights: list[list[int]] = Field(
        default_factory=list,
        description="[start, end) of each sentence of `text` (in code points) that the "
        "answer's [n] claims lean on; empty when the answer does not cite this source.",
    )


class HitOut(BaseModel):
    kb: str
    chunk_id: str
    doc_id: str
    source: str
    page: int | None
    section: str
    score: float
    confidence: float | None = Field(
        None,
        description="Calibrated probability that the passage is relevant (0-1), comparable "
        "across questions and knowledge bases; `score` ranks within one search only.",
    )
    stage: str
    stages: list[StageOut]
    text: str


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class RouteOut(BaseModel):
    kb: str
    score: float
    by: str


class Explanation(BaseModel):
    queries: list[str]
    routes: list[RouteOut]
    retrieved: list[HitOut]


class QueryOut(BaseModel):
    answer: str
    sources: list[Source]
    cited: list[int]
    invalid_citations: int
    no_context: bool
    degraded: bool
    warnings: list[str]
    timings: dict[str, float]
    usage: Usage
    kbs: list[str]
    explain: Explanation | None = None


class RetrieveOut(BaseModel):
    hits: list[HitOut]
    queries: list[str]
    kbs: list[str]
    routes: list[RouteOut]
    timings: dict[str, float]


KB_NAME_RULE = (
    "a knowledge base name starts with a lowercase letter and holds lowercase letters, digits "
    "and _ (not last), up to 32 characters, e.g. hr_policies"
)


class KbIn(BaseModel):
    model_config = _STRICT
    # The pattern documents the rule in the schema; the validator words the refusal.
    name: str = Field(description=KB_NAME_RULE, json_schema_extra={"pattern": KB_NAME})
    description: str = Field("", max_length=2000)

    @field_validator("name")
    @classmethod
    def _kb_name(cls, name: str) -> str:
        if not re.fullmatch(KB_NAME, name):
            raise ValueError(KB_NAME_RULE)
        return name


class KbOut(BaseModel):
    name: str
    description: str
    created_at: str
    embedder: str
    dimension: int
    documents: int
    chunks: int


class KbList(BaseModel):
    kbs: list[KbOut]


class TextDocumentIn(BaseModel):
    model_config = _STRICT
    text: str = Field(min_length=1, max_length=5_000_000, pattern=_TEXT)
    source: str = Field(min_length=1, max_length=1000, pattern=_TEXT)
    metadata: dict[str, str | int | float | bool] = Field(
        default_factory=dict,
        description="`title` titles the document; other keys are accepted and not stored yet.",
    )


class JobFile(BaseModel):
    source: str
    status: Literal["parsed", "skipped", "failed", "removed"]
    doc_id: str
    chunks: int
    reason: str
    code: str = Field(
        "",
        description="A failure's kind, where known: unsupported_format, corrupt_file, "
        "empty_document, missing_tool, parse_timeout, parser_memory, unsafe_file, too_large, "
        "bad_name, ingest_failed.",
    )


class JobOut(BaseModel):
    id: str
    kb: str
    kind: Literal["ingest", "delete", "kb"]
    state: Literal["queued", "running", "done", "failed"]
    progress: dict[str, int]
    files: list[JobFile]
    error: str | None
    created_at: str = Field(description="RFC 3339, UTC (as a knowledge base's created_at).")
    finished_at: str | None
    attempts: int = Field(0, description="Times a worker started it (a retry after a crash).")
    worker: str | None = Field(None, description="The worker running it, or that ran it.")


class DocumentOut(BaseModel):
    doc_id: str
    kb: str
    source: str
    title: str
    version: str
    chunks: int
    summary: str | None = None


class DocumentList(BaseModel):
    documents: list[DocumentOut]
    total: int
    offset: int
    limit: int
