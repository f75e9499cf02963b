"""One knowledge base: its configuration, its index and its question pipeline.

A `KnowledgeBase` is opened by `Runtime.kb(name)` (the only opener) and shares the
runtime's model, generation backend, write lock and vector cache; ingestion, deletion,
reindexing and the LangChain retriever take one.

Example:
    >>> with Runtime.open(load_config()) as runtime:  # doctest: +SKIP
    ...     print(runtime.kb("hr").pipeline.ask("how many days of leave?").text)
"""

from __future__ import annotations

import threading
from typing import Protocol

from rag.compress import create_compressor
from rag.config import RagConfig, derive
from rag.embed import Embedder
from rag.embed.cache import CachedEmbedder
from rag.embed.vector_cache import PersistentEmbedder
from rag.generate import ChatBackend
from rag.generate.extractive import ExtractiveGenerator
from rag.generate.llm import LLMGenerator
from rag.generate.tokens import TokenCounter
from rag.index import Index
from rag.pipeline import RagPipeline
from rag.retrieve import create_search
from rag.state.base import StateBackend

__all__ = ["KnowledgeBase", "Runtime"]


class Runtime(Protocol):
    """What a knowledge base uses of the runtime that opened it (`rag.runtime.Runtime`;
    a protocol here, so that the two modules do not import each other)."""

    backend: ChatBackend | None
    counter: TokenCounter | None
    state: StateBackend

    @property
    def embedder(self) -> Embedder: ...

    @property
    def ingest_embedder(self) -> PersistentEmbedder: ...

    @property
    def languages(self) -> list[str]: ...

    def generator(
        self, backend: str | None = None, model: str | None = None
    ) -> LLMGenerator | None: ...

    def kb(self, name: str | None = None, *, create: str | None = None) -> KnowledgeBase: ...


class KnowledgeBase:
    """A knowledge base of a `Runtime`: `name`, `config` (its own `kb`), `index`, `pipeline`."""

    def __init__(
        self, runtime: Runtime, config: RagConfig, index: Index, *, owns_index: bool = True
    ) -> None:
        self.runtime, self.config, self.index = runtime, config, index
        self._owns_index = owns_index
        self._pipeline: RagPipeline | None = None
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        """The knowledge base's name."""
        return self.config.kb

    @property
    def embedder(self) -> Embedder:
        """The runtime's embedding model (`Runtime.embedder`)."""
        return self.runtime.embedder

    @property
    def ingest_embedder(self) -> PersistentEmbedder:
        """The runtime's embedder for ingestion, through its one vector cache."""
        return self.runtime.ingest_embedder

    @property
    def languages(self) -> list[str]:
        """The languages the runtime's embedder reads."""
        return self.runtime.languages

    @property
    def pipeline(self) -> RagPipeline:
        """The question pipeline: search, compression, answers (built on first use)."""
        languages = self.languages
        with self._lock:
            if self._pipeline is None:
                self._pipeline = self._build_pipeline(languages)
            return self._pipeline

    def with_config(self, config: RagConfig, runtime: Runtime | None = None) -> KnowledgeBase:
        """This knowledge base's index (shared, not reopened) searched and answered with
        the settings of `config` (other retrieval, reranking or compression settings of the
        same index), through `runtime`'s model and backend (this one's when None). Closing
        it leaves the index open."""
        return KnowledgeBase(runtime or self.runtime, config, self.index, owns_index=False)

    def _build_pipeline(self, languages: list[str]) -> RagPipeline:
        config, runtime = self.config, self.runtime
        # Queries asked again and the sentences compression and the extractive answer both
        # embed: each embedded once.
        embedder = CachedEmbedder(runtime.embedder)
        search = create_search(config, self.index, embedder, languages, runtime.backend)
        # Lost-in-the-middle order matters to a model reading the context, not to the
        # extractive answer; the budget leaves room for the prompt and the answer.
        compression = derive(
            config.compression, reorder=config.compression.reorder and runtime.backend is not None
        )
        compressor = create_compressor(
            compression, embedder, self.index.analyzer, languages, runtime.counter
        )
        extractive = ExtractiveGenerator(config.answer, embedder, languages, self.index.analyzer)
        # A follow-up in a conversation is rewritten to stand alone, whatever the
        # configured rewriting strategies for single questions are.
        condense = derive(config.rewrite, strategies=["condense"])
        return RagPipeline(
            (self.index,),
            search,
            compressor,
            extractive,
            runtime.generator(),
            config.retrieval.top_k,
            condense,
            config.retrieval.min_score,
        )

    def close(self) -> None:
        """Close the index (unless it is shared with the knowledge base this came from)."""
        if self._owns_index:
            self.index.close()

    def __enter__(self) -> KnowledgeBase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
