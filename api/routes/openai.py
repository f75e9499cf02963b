"""The OpenAI-compatible endpoint: `GET /v1/models`, `POST /v1/chat/completions`.

Each knowledge base is a model (`rag:<name>`), plus `rag:auto` (routed). The conversation
is condensed to a standalone question, searched, and answered with `[n]` citations; the
references come back as an extra `references` field and, by default, as a numbered list
appended to the message, streaming too (in the last chunk before `[DONE]`). Works with the
official `openai` client and Open WebUI's "OpenAI API" connection.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import PurePosixPath
from typing import Any

from fastapi import APIRouter, Request
from sse_starlette import EventSourceResponse

from api.answering import Asked, finished_answer, pump, sources, usage
from api.errors import ApiError
from api.middleware import REQUEST_ID, error_body
from api.openai_schemas import ChatRequest, ModelCard, ModelList
from api.routes.deps import ERRORS, ServicesDep
from api.routes.query import complete, prepare
from api.schemas import GenerationIn, Source
from api.scopes import Reader
from api.service import Services
from rag.errors import RagError
from rag.text import is_cjk
from rag.types import Answer

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["openai"], responses=ERRORS)

PREFIX = "rag:"


@router.get(
    "/models", response_model=ModelList, summary="A model per knowledge base, plus rag:auto"
)
async def models(svc: ServicesDep, principal: Reader) -> ModelList:
    created = int(svc.started_at)
    kbs = await svc.run(svc.runtime.kbs)
    cards = [
        ModelCard(
            id=f"{PREFIX}{name}",
            created=created,
            owned_by="rag",
            description=info.get("description", ""),
        )
        for name, info in sorted(kbs.items())
        if principal is None or principal.reaches(name)
    ]
    cards.append(
        ModelCard(id=f"{PREFIX}auto", created=created, owned_by="rag", description="routed")
    )
    return ModelList(data=cards)


_OPTIONAL = (None, "auto", "none")  # tool choices a plain answer honours


@router.get("/models/{model}", response_model=ModelCard, summary="One model (rag:<kb>)")
async def model(model: str, svc: ServicesDep, principal: Reader) -> ModelCard:
    def card() -> ModelCard:
        name, info = _kb(svc, model)
        if name != "auto" and principal is not None and not principal.reaches(name):
            raise ApiError("model_not_found", f"no model {model!r} this key may use")
        return ModelCard(
            id=model,
            created=int(svc.started_at),
            owned_by="rag",
            description=info.get("description", ""),
        )

    return await svc.run(card)


def _unsupported(body: ChatRequest) -> None:
    checks = (
        ("n", body.n not in (None, 1), "only one choice is generated (n = 1)"),
        (
            "tool_choice",
            bool(body.tools) and body.tool_choice not in _OPTIONAL,
            "a tool call cannot be required (tools are answered without calling them)",
        ),
        (
            "function_call",
            bool(body.functions) and body.function_call not in _OPTIONAL,
            "a function call cannot be required",
        ),
        ("logprobs", bool(body.logprobs), "log probabilities are not returned"),
        (
            "response_format",
            body.response_format is not None
            and body.response_format.get("type") not in (None, "text"),
            "only text replies are supported",
        ),
    )
    for field, bad, why in checks:
        if bad:
            raise ApiError("unsupported_field", f"{field}: {why}; leave it out", param=field)


def _text(content: str | list[dict[str, Any]] | None) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    parts = []
    for part in content:
        if part.get("type") != "text":
            raise ApiError(
                "unsupported_field",
                f"messages: content part of type {part.get('type')!r}; send text",
            )
        parts.append(str(part.get("text", "")))
    return "".join(parts)


def conversation(body: ChatRequest) -> tuple[str, list[tuple[str, str]]]:
    """The last user message with text, and the (question, answer) turns before it (what
    follows it, and system messages, are left out: the service writes its own prompt)."""
    turns = [(m.role, _text(m.content)) for m in body.messages if m.role in ("user", "assistant")]
    asked = [i for i, (role, text) in enumerate(turns) if role == "user" and text.strip()]
    if not asked:
        raise ApiError("invalid_request", "messages: no user message with text; ask something")
    turns = turns[: asked[-1] + 1]
    history, question = [], None
    for role, text in turns[:-1]:
        if role == "user":
            question = text
        elif question is not None:
            history.append((question, text))
            question = None
    return turns[-1][1], history


def _generation(body: ChatRequest) -> GenerationIn:
    stop = [body.stop] if isinstance(body.stop, str) else body.stop
    values = {
        "temperature": body.temperature,
        "top_p": body.top_p,
        "max_tokens": body.max_completion_tokens or body.max_tokens,
        "stop": stop,
        "seed": body.seed,
        "presence_penalty": body.presence_penalty,
        "frequency_penalty": body.frequency_penalty,
    }
    return GenerationIn(**{k: v for k, v in values.items() if v is not None})


def _kb(svc: Services, model: str) -> tuple[str, dict[str, str]]:
    """The knowledge base a model names and its registry entry (blocking: one manifest
    read)."""
    name = model.removeprefix(PREFIX) if model.startswith(PREFIX) else ""
    if name == "auto":
        return name, {"description": "routed"}
    kbs = svc.runtime.kbs()
    if name not in kbs:
        known = ", ".join(f"{PREFIX}{n}" for n in sorted(kbs))
        raise ApiError(
            "model_not_found",
            f"no model {model!r}; use one of {known}, {PREFIX}auto",
            param="model",
        )
    return name, kbs[name]


def shown_source(source: str) -> str:
    """A source as a reader sees it: a file's name, never the server's folders (an
    archive member keeps its archive: `notes.zip!a.txt`)."""
    return PurePosixPath(source).name if source.startswith("/") else source


def references_text(refs: list[Source], answer: str = "") -> str:
    """The numbered sources appended to the message: one line per cited place (a file's
    two chunks of the same section and page are one line, numbered by both), headed in the
    answer's language."""
    lines: dict[str, list[int]] = {}
    for ref in refs:
        where = shown_source(ref.source) + (f", p. {ref.page}" if ref.page else "")
        where += f", § {ref.section}" if ref.section else ""
        where += f" ({ref.kb})" if ref.kb else ""
        lines.setdefault(where, []).append(ref.n)
    if not lines:
        return ""
    heading = "来源：" if is_cjk(answer) else "Sources:"
    listed = [" ".join(f"[{n}]" for n in numbers) + f" {where}" for where, numbers in lines.items()]
    return f"\n\n{heading}\n" + "\n".join(listed)


def source_events(refs: list[Source]) -> list[dict[str, Any]]:
    """Each reference as Open WebUI reads citations from a streamed chunk (a top-level
    `event` of type `source`; 0.6.30 and 0.12.4 show each `[n]` as a chip that opens the
    passage with its score)."""
    return [
        {
            "type": "source",
            "data": {
                "source": {"id": f"{ref.n}", "name": f"[{ref.n}] {shown_source(ref.source)}"},
                "document": [ref.text],
                "metadata": [
                    {
                        "source": shown_source(ref.source),
                        "name": shown_source(ref.source),
                        "page": ref.page,
                        "section": ref.section,
                        "kb": ref.kb,
                        "doc_id": ref.doc_id,
                    }
                ],
                "distances": [ref.score],
            },
        }
        for ref in refs
    ]


def _references(asked: Asked, answer: Answer) -> list[Source]:
    refs = sources(answer, asked.selection)
    cited = set(answer.cited)
    return [r for r in refs if r.n in cited] if cited else refs


@router.post(
    "/chat/completions",
    summary="OpenAI chat completions over a knowledge base (model rag:<kb> or rag:auto)",
    responses={200: {"content": {"application/json": {}, "text/event-stream": {}}}},
)
async def chat_completions(
    body: ChatRequest,
    request: Request,
    svc: ServicesDep,
    principal: Reader,
) -> Any:
    _unsupported(body)
    question, history = conversation(body)
    kb, _ = await svc.run(_kb, svc, body.model)
    asked = await prepare(
        svc,
        question,
        kb,
        principal,
        top_k=None,
        filters=None,
        generation=_generation(body),
        history=history,
        whole=not body.stream,
    )
    append = (
        body.references if body.references is not None else svc.config.api.references != "field"
    )
    meta = {"id": f"chatcmpl-{uuid.uuid4().hex}", "created": int(time.time()), "model": body.model}
    if body.stream:
        return EventSourceResponse(_chunks(svc, asked, meta, append), ping=15)
    answer = await complete(svc, asked, request)
    if answer is None:
        raise ApiError("invalid_request", "the client closed the connection")
    refs = _references(asked, answer)
    content = answer.text + (references_text(refs, answer.text) if append else "")
    return {
        **meta,
        "object": "chat.completion",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
        "usage": usage(answer).model_dump(),
        "references": [r.model_dump() for r in refs],
        "degraded": answer.fallback,
        "warnings": list(answer.warnings),
    }


def _chunk(
    meta: dict[str, Any], delta: dict[str, Any], finish: str | None = None, **extra: Any
) -> dict[str, str]:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return {
        "data": json.dumps(
            {**meta, "object": "chat.completion.chunk", "choices": [choice], **extra},
            ensure_ascii=False,
        )
    }


async def _chunks(
    svc: Services, asked: Asked, meta: dict[str, Any], append: bool
) -> AsyncIterator[dict[str, str]]:
    gate = svc.gate_for(asked.pipeline)
    try:
        yield _chunk(meta, {"role": "assistant", "content": ""})
        async with gate.slot():
            async for piece in pump(svc, asked):
                yield _chunk(meta, {"content": piece})
        assert asked.answer is not None
        answer = finished_answer(svc, asked, asked.answer)
        refs = _references(asked, answer)
        for event in source_events(refs):
            yield _chunk(meta, {}, event=event)
        if append and refs:
            yield _chunk(meta, {"content": references_text(refs, answer.text)})
        yield _chunk(
            meta,
            {},
            "stop",
            references=[r.model_dump() for r in refs],
            usage=usage(answer).model_dump(),
            degraded=answer.fallback,
            warnings=list(answer.warnings),
        )
    except (ApiError, RagError) as exc:
        error = exc if isinstance(exc, ApiError) else None
        from api.errors import from_rag_error

        error = error or from_rag_error(exc)  # type: ignore[arg-type]
        yield {"data": error_body(error.code, error.message, REQUEST_ID.get()).decode()}
    yield {"data": "[DONE]"}
