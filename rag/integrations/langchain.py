"""Our whole search (rewriting, hybrid or two-level retrieval, reranking) as a LangChain
`BaseRetriever`, so it drops into any LangChain chain.

Needs the `langchain` extra: `pip install -e '.[langchain]'`. Each `Document` carries the
chunk text and, in `metadata`: source, doc_id, chunk_id, page, section, score, stage, and
`stages` (every stage's score and rank).

Example:
    >>> retriever = RagRetriever.open(load_config(), k=4)  # doctest: +SKIP
    >>> join = RunnableLambda(lambda docs: "\\n\\n".join(d.page_content for d in docs))
    >>> chain = retriever | join  # doctest: +SKIP
    >>> chain.invoke("how do I delete a document?")  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

try:
    from langchain_core.callbacks import CallbackManagerForRetrieverRun
    from langchain_core.documents import Document
    from langchain_core.retrievers import BaseRetriever
except ImportError as exc:  # pragma: no cover - depends on the environment
    from rag.errors import ConfigError

    raise ConfigError(
        "the LangChain retriever needs langchain-core; run `pip install -e '.[langchain]'`"
    ) from exc

from pydantic import ConfigDict

from rag.config import RagConfig
from rag.pipeline import RagPipeline
from rag.types import Hit

__all__ = ["RagRetriever", "to_document"]


def to_document(hit: Hit) -> Document:
    """A LangChain document for one hit, with our scores and metadata."""
    chunk = hit.chunk
    return Document(
        page_content=chunk.text,
        metadata={
            "source": chunk.source,
            "doc_id": chunk.doc_id,
            "chunk_id": chunk.chunk_id,
            "page": chunk.page,
            "section": chunk.section,
            "score": hit.score,
            "stage": hit.stage,
            "stages": {s.stage: {"score": s.score, "rank": s.rank} for s in hit.stages},
        },
    )


class RagRetriever(BaseRetriever):
    """Wraps an open `RagPipeline`; `close()` releases its index."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    pipeline: Any
    k: int = 5

    @classmethod
    def open(cls, config: RagConfig, k: int | None = None) -> RagRetriever:
        """Load the embedder and open the index of `config` for reading."""
        pipeline = RagPipeline.open(config)
        return cls(pipeline=pipeline, k=k or config.retrieval.top_k)

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        hits = self.pipeline.search.retrieve(query, self.k)
        return [to_document(h) for h in hits]

    def close(self) -> None:
        """Close the index."""
        self.pipeline.close()
