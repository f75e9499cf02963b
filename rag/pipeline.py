"""The question-answering pipeline as a plain function chain: retrieve, answer.

Example:
    >>> with RagPipeline.open(load_config()) as pipeline:  # doctest: +SKIP
    ...     answer = pipeline.ask("what does the handbook say about leave?")
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

from rag.config import RagConfig
from rag.embed import Embedder, create_embedder
from rag.errors import EmptyIndexError
from rag.generate.base import Generator
from rag.generate.extractive import ExtractiveGenerator
from rag.index import Index
from rag.retrieve import Retriever, create_retriever
from rag.types import Answer

__all__ = ["RagPipeline"]


@dataclass
class RagPipeline:
    """An open index with its embedder and generator; reuse it across questions."""

    embedder: Embedder
    index: Index
    retriever: Retriever
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
            retriever = create_retriever(config, index, embedder)
        except BaseException:
            index.close()
            raise
        generator = ExtractiveGenerator(config.answer, embedder)
        return cls(embedder, index, retriever, generator, config.retrieval.top_k)

    def ask(self, question: str, top_k: int | None = None) -> Answer:
        """Retrieve and answer, with the numbered sources the answer cites.

        Raises:
            EmptyIndexError: The index holds no documents.
        """
        if self.index.count_chunks() == 0:
            raise EmptyIndexError(
                f"the index in {self.index.data_dir} holds no documents; run `rag ingest PATH`"
            )
        started = time.perf_counter()
        hits = self.retriever.retrieve(question, top_k or self.top_k)
        retrieved = time.perf_counter()
        answer = self.generator.generate(question, hits)
        timings = {"retrieve": (retrieved - started) * 1000, **answer.timings_ms}
        return replace(answer, timings_ms=timings)

    def close(self) -> None:
        """Close the index."""
        self.index.close()

    def __enter__(self) -> RagPipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
