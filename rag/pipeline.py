"""The question-answering pipeline as a plain function chain: search, compress, answer.

Example:
    >>> with RagPipeline.open(load_config()) as pipeline:  # doctest: +SKIP
    ...     answer = pipeline.ask("what does the handbook say about leave?")
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace

from rag.compress import Compressor, create_compressor
from rag.config import GenerationParams, RagConfig
from rag.embed import Embedder, create_embedder
from rag.embed.cache import CachedEmbedder
from rag.errors import EmptyIndexError, ModelUnreachableError
from rag.generate import create_backend
from rag.generate.extractive import ExtractiveGenerator
from rag.generate.llm import LLMGenerator
from rag.generate.prompts import PromptSet
from rag.generate.tokens import create_counter
from rag.index import Index
from rag.retrieve import SearchPipeline, SearchTrace, create_search, embedder_languages
from rag.types import Answer, Hit

__all__ = ["Explained", "RagPipeline", "Streamed"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Explained:
    """An answer with the search trace and the compressed context it was written from."""

    trace: SearchTrace
    context: tuple[Hit, ...]
    answer: Answer


@dataclass
class RagPipeline:
    """An open index with its embedder and generators; reuse it across questions."""

    embedder: Embedder
    index: Index
    search: SearchPipeline
    compressor: Compressor
    extractive: ExtractiveGenerator
    llm: LLMGenerator | None
    top_k: int

    @classmethod
    def open(cls, config: RagConfig) -> RagPipeline:
        """Load the embedder and open the index for reading.

        Raises:
            EmptyIndexError: Nothing has been ingested into `config.data_dir`.
            IndexMismatchError: The index was built with another embedding model.
            ConfigError: The generator configuration is incomplete.
        """
        counter = (
            create_counter(config.generator.tokenizer)
            if config.generator.backend != "none"
            else None
        )
        backend = create_backend(config.generator, counter)
        embedder = create_embedder(config.embedder)
        embedder.warm_up()
        index = Index.open(config, embedder, write=False)
        try:
            languages = embedder_languages(config, embedder)
            search = create_search(config, index, embedder, languages, backend)
            # Lost-in-the-middle order matters to a model reading the context, not to the
            # extractive answer; the budget leaves room for the prompt and the answer.
            compression = config.compression.model_copy(
                update={"reorder": config.compression.reorder and backend is not None}
            )
            # Compression and the extractive answer embed the same sentences: once is enough.
            sentences = CachedEmbedder(embedder)
            compressor = create_compressor(
                compression, sentences, index.analyzer, languages, counter
            )
            prompts = PromptSet.load(config.generator.prompt_dir)
        except BaseException:
            index.close()
            raise
        extractive = ExtractiveGenerator(config.answer, sentences)
        llm = None
        if backend is not None:
            llm = LLMGenerator(
                backend,
                prompts,
                config.generator.params,
                config.language,
                config.generator.synthesis,
                counter,
                config.generator.context_window,
                config.generator.parallel_requests,
            )
        return cls(embedder, index, search, compressor, extractive, llm, config.retrieval.top_k)

    def ask(
        self, question: str, top_k: int | None = None, params: GenerationParams | None = None
    ) -> Answer:
        """Search, compress and answer, with the numbered sources the answer cites.

        Raises:
            EmptyIndexError: The index holds no documents.
        """
        return self.explain(question, top_k, params).answer

    def explain(
        self, question: str, top_k: int | None = None, params: GenerationParams | None = None
    ) -> Explained:
        """`ask`, keeping what every step produced."""
        prepared = self.prepare(question, top_k)
        stream = self.stream(question, prepared, params)
        for _ in stream:
            pass
        return replace(prepared, answer=stream.answer)

    def prepare(self, question: str, top_k: int | None = None) -> Explained:
        """Search and compress: everything before the answer is written (`answer` is empty)."""
        if self.index.count_chunks() == 0:
            raise EmptyIndexError(
                f"the index in {self.index.data_dir} holds no documents; run `rag ingest PATH`"
            )
        started = time.perf_counter()
        trace = self.search.trace(question, top_k or self.top_k)
        searched = time.perf_counter()
        warnings: list[str] = []
        if self.llm is None:
            context = self.compressor.compress(question, trace.hits)
        else:
            # Packed for the model's window, counted with its tokenizer (or an estimate).
            budget = self.llm.context_budget(question, trace.hits)
            context, warnings = self.llm.fit(
                question, self.compressor.compress(question, trace.hits, budget)
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

    def close(self) -> None:
        """Close the index."""
        self.index.close()

    def __enter__(self) -> RagPipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


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
                logger.warning(message)
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
