"""Our whole search (rewriting, hybrid or two-level retrieval, reranking) as a LangChain
`BaseRetriever`, so it drops into any LangChain chain.

Needs the `langchain` extra: `pip install -e '.[langchain]'`. Each `Document` carries the
chunk text and, in `metadata`: source, doc_id, chunk_id, page, section, score, stage, and
`stages` (every stage's score and rank).

Example:
    >>> runtime = Runtime.open(load_config())  # doctest: +SKIP
    >>> retriever = RagRetriever(kb=runtime.kb("hr"), k=4)  # doctest: +SKIP
    >>> join = RunnableLambda(lambda docs: "\\n\\n".join(d.page_content for d in docs))
    >>> chain = retriever | join  # doctest: +SKIP
    >>> chain.invoke("how do I delete a document?")  # doctest: +SKIP
"""

from __future__ import annotations

try:
    from langchain_core.callbacks import CallbackManagerForRetrieverRun
    from langchain_core.documents import Document
    from langchain_core.retrievers import BaseRetriever
except ImportError as exc:  # pragma: no cover - depends on the environment
    from rag.errors import ConfigError

    raise ConfigError(
        "the LangChain retriever needs langchain-core; run `pip install -e '.[langchain]'`"
    ) from exc

from typing import Annotated

from pydantic import ConfigDict, SkipValidation

from rag.knowledge_base import KnowledgeBase
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
    """Runs the search of one knowledge base (`runtime.kb(name)`); the runtime stays the
    caller's to close."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    kb: Annotated[KnowledgeBase, SkipValidation]
    k: int = 5

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        hits = self.kb.pipeline.search.retrieve(query, self.k)
        return [to_document(h) for h in hits]
