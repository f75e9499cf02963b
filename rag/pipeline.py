"""The question-answering pipeline as a plain function chain: search, compress, answer.

Example:
    >>> with Runtime.open(load_config()) as runtime:  # doctest: +SKIP
    ...     answer = runtime.kb().pipeline.ask("what does the handbook say about leave?")
"""

from __future__ import annotations

import logging
import time
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass, replace

from rag.compress import Compressor
from rag.config import GenerationParams, RewriteConfig
from rag.errors import (
    EmptyIndexError,
    GenerationError,
    InvalidRequestError,
    ModelUnreachableError,
)
from rag.generate.extractive import ExtractiveGenerator
from rag.generate.llm import Draft, LLMGenerator
from rag.index import Index
from rag.retrieve import SearchTrace
from rag.retrieve.base import Search
from rag.types import Answer, Citation, Filters, Hit

__all__ = ["EMPTY_QUESTION", "Answering", "Explained", "RagPipeline"]

EMPTY_QUESTION = "the question is empty; ask something"  # one wording: CLI, API, library

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Explained:
    """An answer with the search trace and the compressed context it was written from."""

    trace: SearchTrace
    context: tuple[Hit, ...]
    answer: Answer


@dataclass
class RagPipeline:
    """Search, compress and answer over built components (`KnowledgeBase.pipeline` builds
    it, over one knowledge base's index or several); safe to share between threads.

    `answer()` is the one way in: the CLI, the service and the evaluation call it; `ask` and
    `explain` are it, read to the end."""

    indexes: tuple[Index, ...]
    search: Search
    compressor: Compressor
    extractive: ExtractiveGenerator
    llm: LLMGenerator | None
    top_k: int
    condense: RewriteConfig | None = None  # how a follow-up is rewritten to stand alone
    min_score: float = 0.0  # a hit less confident than this is not context (abstention)

    def ask(
        self,
        question: str,
        top_k: int | None = None,
        params: GenerationParams | None = None,
        filters: Filters | None = None,
    ) -> Answer:
        """Search, compress and answer, with the numbered sources the answer cites.

        Raises:
            EmptyIndexError: The index holds no documents.
        """
        return self.explain(question, top_k, params, filters).answer

    def explain(
        self,
        question: str,
        top_k: int | None = None,
        params: GenerationParams | None = None,
        filters: Filters | None = None,
    ) -> Explained:
        """`ask`, keeping what every step produced."""
        answering = self.answer(question, top_k, params, filters)
        return replace(answering.prepared, answer=answering.answer)

    def answer(
        self,
        question: str,
        top_k: int | None = None,
        params: GenerationParams | None = None,
        filters: Filters | None = None,
        *,
        history: Sequence[tuple[str, str]] = (),
        whole: bool = False,
        required: bool = False,
    ) -> Answering:
        """Search and pack the context now (`.prepared`); iterate the result for the answer
        as it is written, then read `.answer`. `history` (earlier user and assistant turns)
        rewrites a follow-up to stand alone first, through the model. The context is
        packed for the answer length of `params` (the configured one when None); `filters`
        limit the documents searched.

        When the model cannot be reached the extractive answer is given instead (with a
        warning, `answer.fallback` True); with `whole` (the caller shows only the finished
        `.answer`, not the pieces) also when it breaks off mid-answer. With `required`, those
        failures raise instead.

        Raises:
            InvalidRequestError: The question is empty, or `top_k` is not positive.
            EmptyIndexError: The index holds no documents.
            ModelUnreachableError, GenerationError (while iterating): as above.
        """
        asked = question
        if history and self.llm is not None and self.condense is not None:
            from rag.retrieve.rewrite import LLMRewriter

            rewriter = LLMRewriter(self.llm.backend, self.condense)
            question = rewriter.rewrite(question, history).queries[0]
        prepared = self._prepare(question, top_k, params, filters)
        if not prepared.context and question != asked:
            # A rewrite that finds nothing the documents answer is not trusted over the
            # user's own words: the follow-up as asked is searched instead.
            question, prepared = asked, self._prepare(asked, top_k, params, filters)
        return Answering(self, question, prepared, params, whole=whole, required=required)

    def _prepare(
        self,
        question: str,
        top_k: int | None,
        params: GenerationParams | None,
        filters: Filters | None,
    ) -> Explained:
        """Search and compress: everything before the answer is written (`answer` empty)."""
        if not question.strip():
            raise InvalidRequestError(EMPTY_QUESTION)
        if top_k is not None and top_k <= 0:
            raise InvalidRequestError(
                f"top_k must be greater than 0. Currently, the top_k is {top_k}"
            )
        if all(index.count_chunks() == 0 for index in self.indexes):
            raise EmptyIndexError(
                f"the index in {self.indexes[0].data_dir} holds no documents; run `rag ingest PATH`"
            )
        started = time.perf_counter()
        trace = self.search.trace(question, top_k or self.top_k, filters=filters)
        searched = time.perf_counter()
        warnings: list[str] = []
        hits = confident(trace.hits, self.min_score)
        if not hits:  # the documents do not answer it: no context, no citation
            context: list[Hit] = []
        elif self.llm is None:
            context = self.compressor.compress(question, hits)
        else:
            # Packed for the model's window, counted with its tokenizer (or an estimate).
            context, warnings = self.llm.pack(
                question,
                hits,
                lambda budget: self.compressor.compress(question, hits, budget),
                params,
            )
        timings = {
            "search": (searched - started) * 1000,
            "compress": (time.perf_counter() - searched) * 1000,
        }
        answer = Answer("", timings_ms=timings, warnings=tuple(warnings))
        return Explained(trace, tuple(context), answer)


def confident(hits: Sequence[Hit], min_score: float) -> list[Hit]:
    """The hits that may be context: calibrated confidence at least `min_score` (a hit
    without one, from a search that does not calibrate, is kept)."""
    return [h for h in hits if h.confidence is None or h.confidence >= min_score]


class Answering:
    """One answer being written: `.prepared` holds the search and the context; iterate for
    the text as it arrives (once); then `.answer` (with the step timings and the tokens).
    Closing the iteration early closes the request to the model server."""

    def __init__(
        self,
        pipeline: RagPipeline,
        question: str,
        prepared: Explained,
        params: GenerationParams | None = None,
        *,
        whole: bool = False,
        required: bool = False,
    ) -> None:
        self.pipeline, self.question, self.prepared = pipeline, question, prepared
        self._params, self._whole, self._required = params, whole, required
        self.failure: str | None = None  # "unreachable" or "broken_off" when it fell back
        self._answer: Answer | None = None

    def __iter__(self) -> Iterator[str]:
        pipeline, context = self.pipeline, list(self.prepared.context)
        warnings = [*self.prepared.trace.warnings, *self.prepared.answer.warnings]
        answer: Answer | None = None
        if pipeline.llm is not None and context:
            answer = yield from self._written(pipeline.llm, context, warnings)
        if answer is None:
            answer = pipeline.extractive.generate(self.question, context)
            answer = replace(answer, fallback=self.failure is not None)
            yield answer.text
        timings = {**self.prepared.answer.timings_ms, **answer.timings_ms}
        warnings += [w for w in answer.warnings if w not in warnings]
        self._answer = replace(answer, timings_ms=timings, warnings=tuple(warnings))

    def _written(
        self, llm: LLMGenerator, context: list[Hit], warnings: list[str]
    ) -> Generator[str, None, Answer | None]:
        """The model's answer, or None (with `failure` set) where the extractive one is
        given instead."""
        started, draft, sent = time.perf_counter(), Draft(), []
        pieces = llm.write(self.question, context, self._params, draft)
        try:
            for piece in pieces:
                sent.append(piece)
                yield piece
        except ModelUnreachableError as exc:
            if self._required:
                raise ModelUnreachableError(
                    f"the model could not be reached and an answer from it is required: {exc}"
                ) from exc
            self._fall_back("unreachable", f"the model could not be reached ({exc})", warnings)
            return None
        except GenerationError as exc:
            if self._required or not self._whole:
                raise
            self._fall_back("broken_off", f"the model failed mid-answer ({exc})", warnings)
            return None
        finally:
            pieces.close()  # left early (the client went away): closes the model's request
        warnings += [w for w in draft.warnings if w not in warnings]
        return Answer(
            "".join(sent).strip(),
            tuple(Citation(n, hit) for n, hit in enumerate(context, 1)),
            timings_ms={"generate": (time.perf_counter() - started) * 1000},
            cited=tuple(draft.cited),
            invalid_citations=draft.invalid_citations,
            prompt_tokens=draft.prompt_tokens,
            completion_tokens=draft.completion_tokens,
        )

    def _fall_back(self, failure: str, why: str, warnings: list[str]) -> None:
        message = f"{why}; extractive answer instead"
        # INFO: the answer carries it to every caller (the CLI prints it once, the API
        # returns it); `rag serve` logs `rag` at INFO.
        logger.info(message)
        warnings.append(message)
        self.failure = failure

    @property
    def answer(self) -> Answer:
        """The finished answer (reads the rest of the answer first if needed)."""
        if self._answer is None:
            for _ in self:
                pass
        assert self._answer is not None
        return self._answer
