"""The question-answering pipeline as a plain function chain: search, compress, answer.

Example:
    >>> with Runtime.open(load_config()) as runtime:  # doctest: +SKIP
    ...     answer = runtime.kb().pipeline.ask("what does the handbook say about leave?")
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace

from rag.compress import Compressor
from rag.config import GenerationParams
from rag.errors import EmptyIndexError, InvalidRequestError, ModelUnreachableError
from rag.generate.extractive import ExtractiveGenerator
from rag.generate.llm import LLMGenerator
from rag.index import Index
from rag.retrieve import SearchTrace
from rag.retrieve.base import Search
from rag.types import Answer, Filters, Hit

__all__ = ["EMPTY_QUESTION", "Explained", "RagPipeline", "Streamed"]

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
    it, over one knowledge base's index or several); safe to share between threads."""

    indexes: tuple[Index, ...]
    search: Search
    compressor: Compressor
    extractive: ExtractiveGenerator
    llm: LLMGenerator | None
    top_k: int

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
        prepared = self.prepare(question, top_k, params, filters)
        stream = self.stream(question, prepared, params)
        for _ in stream:
            pass
        return replace(prepared, answer=stream.answer)

    def prepare(
        self,
        question: str,
        top_k: int | None = None,
        params: GenerationParams | None = None,
        filters: Filters | None = None,
    ) -> Explained:
        """Search and compress: everything before the answer is written (`answer` is empty).
        The context is packed for the answer length of `params` (the configured one when
        None); pass the same `params` to `stream`. `filters` limit the documents searched.

        Raises:
            InvalidRequestError: The question is empty, or `top_k` is not positive.
            EmptyIndexError: The index holds no documents.
        """
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
        if self.llm is None:
            context = self.compressor.compress(question, trace.hits)
        else:
            # Packed for the model's window, counted with its tokenizer (or an estimate).
            budget = self.llm.context_budget(question, trace.hits, params)
            context, warnings = self.llm.fit(
                question, self.compressor.compress(question, trace.hits, budget), params
            )
        timings = {
            "search": (searched - started) * 1000,
            "compress": (time.perf_counter() - searched) * 1000,
        }
        answer = Answer("", timings_ms=timings, warnings=tuple(warnings))
        return Explained(trace, tuple(context), answer)

    def stream(
        self, question: str, prepared: Explained, params: GenerationParams | None = None
    ) -> Streamed:
        """The answer as it is written; the extractive one when no model is configured or
        the model cannot be reached (then `answer.fallback` is True, with a warning)."""
        return Streamed(self, question, prepared, params)


class Streamed:
    """Iterate for answer text as it arrives; then `.answer` (with the step timings)."""

    def __init__(
        self,
        pipeline: RagPipeline,
        question: str,
        prepared: Explained,
        params: GenerationParams | None = None,
    ) -> None:
        self._pipeline, self._question, self._prepared = pipeline, question, prepared
        self._params = params
        self._answer: Answer | None = None

    def __iter__(self) -> Iterator[str]:
        pipeline, context = self._pipeline, list(self._prepared.context)
        warnings = [*self._prepared.trace.warnings, *self._prepared.answer.warnings]
        answer: Answer | None = None
        if pipeline.llm is not None and context:
            stream = pipeline.llm.stream(self._question, context, self._params)
            try:
                yield from stream
                answer = stream.answer
            except ModelUnreachableError as exc:
                message = f"the model could not be reached ({exc}); extractive answer instead"
                # INFO: the answer carries it to every caller (the CLI prints it once, the
                # API returns it); `rag serve` logs `rag` at INFO.
                logger.info(message)
                warnings.append(message)
        if answer is None:
            answer = pipeline.extractive.generate(self._question, context)
            if pipeline.llm is not None:
                answer = replace(answer, fallback=bool(pipeline.llm and context))
            yield answer.text
        timings = {**self._prepared.answer.timings_ms, **answer.timings_ms}
        warnings += [w for w in answer.warnings if w not in warnings]
        self._answer = replace(answer, timings_ms=timings, warnings=tuple(warnings))

    @property
    def answer(self) -> Answer:
        if self._answer is None:
            for _ in self:
                pass
        assert self._answer is not None
        return self._answer
