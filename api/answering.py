"""Questions in, answers out: knowledge-base selection, search, the answer (streamed or
whole), degradation and cancellation, shared by `/v1/query`, `/v1/retrieve` and the OpenAI
endpoint.

All blocking work runs in the service's thread pool behind its gates. An answer is always
produced by iterating the pipeline's stream in a worker thread; when the client goes away
the thread stops at the next piece and closes the stream, which closes the request to the
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
from rag.config import GenerationParams, derive
from rag.errors import ConfigError, GenerationError
from rag.generate.llm import LLMGenerator
from rag.generate.tokens import prompt_tokens
from rag.manifest import DEFAULT_KB
from rag.pipeline import Explained, RagPipeline, Streamed
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
    """A question prepared for answering: the pipeline, the search and context, the
    generation settings."""

    pipeline: RagPipeline
    selection: Selection
    question: str
    prepared: Explained
    params: GenerationParams
    required: bool
    cancel: threading.Event = field(default_factory=threading.Event)
    answer: Answer | None = None  # set when the stream is finished

    def stream(self) -> Streamed:
        return self.pipeline.stream(self.question, self.prepared, self.params)


def ask(
    services: Services,
    question: str,
    selection: Selection,
    *,
    top_k: int | None,
    filters: Filters | None,
    generation: GenerationIn | str | None,
    history: Sequence[tuple[str, str]] = (),
) -> Asked:
    """Condense (with history), search and pack the context (blocking)."""
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
    if history and pipeline.llm is not None:
        question = condense(services, question, history)
    prepared = pipeline.prepare(question, top_k, params, filters)
    timings = prepared.answer.timings_ms
    services.metrics.stage_seconds.labels("retrieval").observe(timings.get("search", 0) / 1000)
    return Asked(pipeline, selection, question, prepared, params, required)


def _generator(runtime: Runtime, generation: GenerationIn) -> LLMGenerator | None:
    """The model a request names, on the configured server.

    Raises:
        ApiError: model_not_found, when this server cannot serve it (no server address or
            model name configured for that backend).
    """
    try:
        return runtime.generator(generation.backend, generation.model)
    except ConfigError as exc:
        raise ApiError("model_not_found", f"this server cannot serve that model: {exc}") from exc


def _with_llm(pipeline: RagPipeline, llm: LLMGenerator | None) -> RagPipeline:
    return replace(pipeline, llm=llm)


def condense(services: Services, question: str, history: Sequence[tuple[str, str]]) -> str:
    """The follow-up question rewritten to stand alone, through the configured model (the
    question as asked when the model fails)."""
    from rag.config import RewriteConfig
    from rag.retrieve.rewrite import LLMRewriter

    backend = services.runtime.backend
    if backend is None:
        return question
    rewrite = services.config.rewrite
    config = RewriteConfig(
        strategies=["condense"],
        history_turns=rewrite.history_turns,
        max_tokens=rewrite.max_tokens,
        timeout_s=rewrite.timeout_s,
    )
    return LLMRewriter(backend, config).rewrite(question, history).queries[0]


async def pump(services: Services, asked: Asked) -> AsyncIterator[str]:
    """The answer's pieces as the worker thread produces them; leaving the iteration early
    (the client went away, a timeout) stops the thread and closes the model's stream."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[str, object]] = asyncio.Queue()
    streamed = asked.stream()

    def produce() -> None:
        pieces = iter(streamed)
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
        loop.call_soon_threadsafe(queue.put_nowait, ("end", streamed.answer))

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


def broken_off(services: Services, asked: Asked, exc: GenerationError) -> Answer:
    """The extractive answer for a model that failed mid-answer, before anything was sent
    to the client (a whole answer, not a stream).

    Raises:
        ApiError: generation_failed, when the request set `generation.required`.
    """
    services.metrics.model_errors.labels("broken_off").inc()
    if asked.required:
        raise ApiError("generation_failed", f"the model failed mid-answer: {exc}")
    context = list(asked.prepared.context)
    answer = asked.pipeline.extractive.generate(asked.question, context)
    warning = f"the model failed mid-answer ({exc}); extractive answer instead"
    warnings = (*asked.prepared.trace.warnings, *asked.prepared.answer.warnings, warning)
    return replace(answer, fallback=True, warnings=warnings)


def finished_answer(services: Services, asked: Asked, answer: Answer) -> Answer:
    """Check the finished answer against the request (raises when a model was required
    and could not answer) and record its metrics."""
    if answer.fallback:
        services.metrics.degraded.inc()
        services.metrics.model_errors.labels("unreachable").inc()
        if asked.required:
            raise ApiError(
                "model_unavailable",
                "the model could not be reached and generation.required is set: "
                + "; ".join(answer.warnings),
            )
    services.metrics.observe_timings(answer.timings_ms)
    counted = usage(asked, answer)
    services.metrics.tokens.labels("prompt").inc(counted.prompt_tokens)
    services.metrics.tokens.labels("completion").inc(counted.completion_tokens)
    return answer


def usage(asked: Asked, answer: Answer) -> Usage:
    """Prompt and completion tokens, counted with the model's tokenizer when configured
    (else the estimate); zero for an extractive answer."""
    llm = asked.pipeline.llm
    if llm is None or answer.fallback or not asked.prepared.context:
        return Usage(prompt_tokens=0, completion_tokens=0, total_tokens=0)
    counter = llm.counter
    prompt = prompt_tokens(counter, llm.messages(asked.question, list(asked.prepared.context)))
    completion = sum(counter.count([answer.text]))
    return Usage(
        prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion
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
        usage=usage(asked, answer),
        kbs=list(asked.selection.kbs),
        explain=explanation,
    )
