"""Questions in, answers out: knowledge-base selection, search, the answer (streamed or
whole), degradation and cancellation, shared by `/v1/query`, `/v1/retrieve` and the OpenAI
endpoint.

All blocking work runs in the service's thread pool behind its gates. A question enters
the library once (`RagPipeline.answer`, which also degrades to the extractive answer); the
answer is produced by iterating its `Answering` in a worker thread; when the client goes
away the thread stops at the next piece and closes it, which closes the request to the
model server (the generation is cancelled upstream, not left running).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field, replace

from api.auth import Principal
from api.errors import ApiError
from api.highlight import cited_spans
from api.schemas import (
    Explanation,
    FiltersIn,
    GenerationIn,
    HitOut,
    QueryOut,
    RouteOut,
    Source,
    StageOut,
    Usage,
)
from api.service import Services
from rag.config import derive
from rag.errors import ConfigError
from rag.generate.llm import LLMGenerator
from rag.manifest import DEFAULT_KB
from rag.pipeline import Answering, Explained, RagPipeline
from rag.retrieve.routing import Route, RouteTarget
from rag.runtime import Runtime
from rag.types import Answer, Citation, Filters, Hit

__all__ = ["Asked", "Selection", "answer_json", "ask", "hit_out", "pump", "select_kbs"]

AUTO = "auto"


@dataclass(frozen=True, slots=True)
class Selection:
    """The knowledge bases a question goes to, and how they were chosen."""

    kbs: tuple[str, ...]
    routes: tuple[Route, ...] = ()


def select_kbs(
    services: Services, kb: str | Sequence[str], question: str, principal: Principal | None
) -> Selection:
    """The knowledge bases named (checked to exist and to be readable by the caller), or
    for `auto` those the router picks among the ones the caller may read (blocking)."""
    known = services.runtime.kbs()
    names = [kb] if isinstance(kb, str) else list(kb)
    if not names:
        raise ApiError("invalid_request", "kb is an empty list; name at least one knowledge base")
    if names == [AUTO]:
        reachable = [n for n in known if principal is None or principal.reaches(n)]
        indexes = {name: services.runtime.kb(name).index for name in reachable}
        targets = {
            name: RouteTarget(known[name].get("description", ""), index)
            for name, index in indexes.items()
            if index.count_chunks() > 0  # an empty one has nothing to answer from
        }
        if not targets and reachable:
            return Selection((reachable[0],))
        started = time.perf_counter()
        routes = services.router.route(question, targets)
        services.metrics.stage_seconds.labels("routing").observe(time.perf_counter() - started)
        if not routes:
            raise ApiError("kb_not_found", "no knowledge base this key may read")
        return Selection(tuple(r.kb for r in routes), tuple(routes))
    for name in names:
        if name not in known:
            raise ApiError(
                "kb_not_found",
                f"no knowledge base {name!r} (there are: {', '.join(sorted(known))}); create "
                "it with POST /v1/kbs",
            )
        services.authorize(principal, name, "read")
    return Selection(tuple(dict.fromkeys(names)))


def to_filters(filters: FiltersIn | None) -> Filters | None:
    if filters is None:
        return None
    doc_ids = tuple(filters.doc_ids) if filters.doc_ids is not None else None
    return Filters(doc_ids, filters.source_prefix or None)


@dataclass
class Asked:
    """A question on its way to an answer: the knowledge bases chosen, and the pipeline's
    `Answering` (the search and context done; the answer written as it is iterated)."""

    selection: Selection
    answering: Answering
    cancel: threading.Event = field(default_factory=threading.Event)
    answer: Answer | None = None  # set when the answer is finished

    @property
    def pipeline(self) -> RagPipeline:
        return self.answering.pipeline

    @property
    def prepared(self) -> Explained:
        return self.answering.prepared


def ask(
    services: Services,
    question: str,
    selection: Selection,
    *,
    top_k: int | None,
    filters: Filters | None,
    generation: GenerationIn | str | None,
    history: Sequence[tuple[str, str]] = (),
    whole: bool,
) -> Asked:
    """The request's settings over the pipeline, then the question into the library:
    condensed (with history), searched, the context packed (blocking). `whole`: the client
    gets the finished answer, not a stream."""
    runtime = services.runtime
    pipeline = runtime.pipeline_for(selection.kbs)
    params = runtime.config.generator.params
    required = False
    if generation == "none":
        pipeline = _with_llm(pipeline, None)
    elif isinstance(generation, GenerationIn):
        required = generation.required
        sampling = generation.model_dump(
            exclude={"backend", "model", "required"}, exclude_unset=True
        )
        params = derive(params, **sampling)
        if generation.backend is not None or generation.model is not None:
            pipeline = _with_llm(pipeline, _generator(runtime, generation))
    if required and pipeline.llm is None:
        raise ApiError(
            "model_unavailable",
            "generation.required is set but no model is configured (generator.backend none)",
        )
    answering = pipeline.answer(
        question, top_k, params, filters, history=history, whole=whole, required=required
    )
    timings = answering.prepared.answer.timings_ms
    services.metrics.stage_seconds.labels("retrieval").observe(timings.get("search", 0) / 1000)
    return Asked(selection, answering)


def _generator(runtime: Runtime, generation: GenerationIn) -> LLMGenerator | None:
    """The model a request names, on the configured server.

    Raises:
        ApiError: model_not_found, when this server cannot serve it (no server address or
            model name configured for that backend).
    """
    try:
        llm = runtime.generator(generation.backend, generation.model)
    except ConfigError as exc:
        raise ApiError("model_not_found", f"this server cannot serve that model: {exc}") from exc
    if llm is None and generation.model:
        raise ApiError(
            "model_not_found",
            f"this server has no generation model to run {generation.model!r} "
            "(generator.backend is none): leave `model` out for the extractive answer, or "
            "start the server with a generator configured",
            param="generation.model",
        )
    return llm


def _with_llm(pipeline: RagPipeline, llm: LLMGenerator | None) -> RagPipeline:
    return replace(pipeline, llm=llm)


async def pump(services: Services, asked: Asked) -> AsyncIterator[str]:
    """The answer's pieces, carried from the worker thread that iterates the library's
    `Answering`; leaving early (the client went away, a timeout) stops the thread, which
    closes the model's stream."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[str, object]] = asyncio.Queue()
    answering = asked.answering

    def produce() -> None:
        pieces = iter(answering)
        try:
            for piece in pieces:
                if asked.cancel.is_set():
                    pieces.close()  # type: ignore[attr-defined]
                    loop.call_soon_threadsafe(queue.put_nowait, ("cancelled", None))
                    return
                loop.call_soon_threadsafe(queue.put_nowait, ("piece", piece))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
            loop.call_soon_threadsafe(queue.put_nowait, ("error", exc))
            return
        loop.call_soon_threadsafe(queue.put_nowait, ("end", answering.answer))

    worker = loop.run_in_executor(services.executor, produce)
    finished = False
    try:
        while True:
            kind, value = await queue.get()
            if kind == "piece":
                yield str(value)
            elif kind == "error":
                assert isinstance(value, BaseException)
                raise value
            elif kind == "end":
                assert isinstance(value, Answer)
                asked.answer, finished = value, True
                return
            else:
                return
    finally:
        if not finished:
            asked.cancel.set()
            services.metrics.cancelled.inc()
        worker.add_done_callback(lambda f: f.exception())


def finished_answer(services: Services, asked: Asked, answer: Answer) -> Answer:
    """Record the finished answer's metrics."""
    if answer.fallback:
        services.metrics.degraded.inc()
        services.metrics.model_errors.labels(asked.answering.failure or "unreachable").inc()
    services.metrics.observe_timings(answer.timings_ms)
    services.metrics.tokens.labels("prompt").inc(answer.prompt_tokens)
    services.metrics.tokens.labels("completion").inc(answer.completion_tokens)
    return answer


def usage(answer: Answer) -> Usage:
    """The tokens the model was sent and wrote, counted with its tokenizer when configured
    (else the estimate) on the messages as they were sent; zero for an extractive answer."""
    return Usage(
        prompt_tokens=answer.prompt_tokens,
        completion_tokens=answer.completion_tokens,
        total_tokens=answer.prompt_tokens + answer.completion_tokens,
    )


def hit_out(hit: Hit, default_kb: str = DEFAULT_KB) -> HitOut:
    chunk = hit.chunk
    return HitOut(
        kb=hit.kb or default_kb,
        chunk_id=chunk.chunk_id,
        doc_id=chunk.doc_id,
        source=chunk.source,
        page=chunk.page,
        section=chunk.section,
        score=round(hit.score, 6),
        confidence=hit.confidence,
        stage=hit.stage,
        stages=[StageOut(stage=s.stage, score=round(s.score, 6), rank=s.rank) for s in hit.stages],
        text=chunk.text,
    )


def sources(answer: Answer, selection: Selection) -> list[Source]:
    return [_source(c, answer.text, selection) for c in answer.citations]


def _source(c: Citation, answer: str, selection: Selection) -> Source:
    spans = cited_spans(answer, c.n, c.hit.chunk.text)
    return Source(
        n=c.n,
        kb=c.hit.kb or selection.kbs[0],
        doc_id=c.hit.chunk.doc_id,
        source=c.hit.chunk.source,
        page=c.hit.chunk.page,
        section=c.hit.chunk.section,
        score=round(c.hit.score, 6),
        confidence=c.hit.confidence,
        text=c.hit.chunk.text,
        highlights=[list(s) for s in spans],
    )


def routes_out(selection: Selection) -> list[RouteOut]:
    return [RouteOut(kb=r.kb, score=round(r.score, 6), by=r.by) for r in selection.routes]


def answer_json(asked: Asked, answer: Answer, explain: bool) -> QueryOut:
    trace = asked.prepared.trace
    explanation = None
    if explain:
        explanation = Explanation(
            queries=list(trace.queries),
            routes=routes_out(asked.selection),
            retrieved=[hit_out(h, asked.selection.kbs[0]) for h in trace.retrieved],
        )
    return QueryOut(
        answer=answer.text,
        sources=sources(answer, asked.selection),
        cited=list(answer.cited),
        invalid_citations=answer.invalid_citations,
        no_context=answer.no_context,
        degraded=answer.fallback,
        warnings=list(answer.warnings),
        timings={k: round(v, 1) for k, v in answer.timings_ms.items()},
        usage=usage(answer),
        kbs=list(asked.selection.kbs),
        explain=explanation,
    )
