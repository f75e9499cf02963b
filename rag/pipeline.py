"""The question-answering pipeline as a plain function chain: search, compress, answer.

Example:
    >>> with RagPipeline.open(load_config()) as pipeline:  # doctest: +SKIP
    ...     answer = pipeline.ask("what does the handbook say about leave?")
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

from rag.compress import Compressor, create_compressor
from rag.config import RagConfig
from rag.embed import Embedder, create_embedder
from rag.embed.cache import CachedEmbedder
from rag.errors import EmptyIndexError
from rag.generate.base import Generator
from rag.generate.extractive import ExtractiveGenerator
from rag.index import Index
from rag.retrieve import SearchPipeline, SearchTrace, create_search, embedder_languages
from rag.types import Answer, Hit

__all__ = ["Explained", "RagPipeline"]


@dataclass(frozen=True, slots=True)
class Explained:
    """An answer with the search trace and the compressed context it was written from."""

    trace: SearchTrace
    context: tuple[Hit, ...]
    answer: Answer


@dataclass
class RagPipeline:
    """An open index with its embedder and generator; reuse it across questions."""

    embedder: Embedder
    index: Index
    search: SearchPipeline
    compressor: Compressor
    generator: Generator
    top_k: int

    @classmethod
    def open(cls, config: RagConfig) -> RagPipeline:
        """Load the embedder and open the index for reading.

        Raises:
            EmptyIndexError: Nothing has been ingested into `config.data_dir`.
            IndexMismatchError: The index was built with another embedding model.
        """
        embedder = create_embedder(config.embedder)
        embedder.warm_up()
        index = Index.open(config, embedder, write=False)
        try:
            languages = embedder_languages(config, embedder)
            search = create_search(config, index, embedder, languages)
            # The extractive answer does not read its context in order: lost-in-the-middle
            # reordering starts to matter once a model writes the answer (generation issue).
            compression = config.compression.model_copy(update={"reorder": False})
            # Compression and the extractive answer embed the same sentences: once is enough.
            sentences = CachedEmbedder(embedder)
            compressor = create_compressor(compression, sentences, index.analyzer, languages)
        except BaseException:
            index.close()
            raise
        generator = ExtractiveGenerator(config.answer, sentences)
        return cls(embedder, index, search, compressor, generator, config.retrieval.top_k)

    def ask(self, question: str, top_k: int | None = None) -> Answer:
        """Search, compress and answer, with the numbered sources the answer cites.

        Raises:
            EmptyIndexError: The index holds no documents.
        """
        return self.explain(question, top_k).answer

    def explain(self, question: str, top_k: int | None = None) -> Explained:
        """`ask`, keeping what every step produced."""
        if self.index.count_chunks() == 0:
            raise EmptyIndexError(
                f"the index in {self.index.data_dir} holds no documents; run `rag ingest PATH`"
            )
        started = time.perf_counter()
        trace = self.search.trace(question, top_k or self.top_k)
        searched = time.perf_counter()
        context = self.compressor.compress(question, trace.hits)
        compressed = time.perf_counter()
        answer = self.generator.generate(question, context)
        timings = {
            "search": (searched - started) * 1000,
            "compress": (compressed - searched) * 1000,
            **answer.timings_ms,
        }
        return Explained(trace, tuple(context), replace(answer, timings_ms=timings))

    def close(self) -> None:
        """Close the index."""
        self.index.close()

    def __enter__(self) -> RagPipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
