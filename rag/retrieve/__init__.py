"""Retrievers, chosen by `retrieval.mode`."""

from __future__ import annotations

from collections.abc import Callable, Collection

from rag.config import RagConfig
from rag.embed.base import Embedder
from rag.embed.languages import probe_languages
from rag.index import Index
from rag.registry import build
from rag.retrieve.base import Retriever
from rag.retrieve.hybrid import HybridRetriever

__all__ = ["REGISTRY", "Retriever", "create_retriever"]

RetrieverFactory = Callable[[RagConfig, Index, Embedder, Collection[str]], Retriever]


def _searches(*names: str) -> RetrieverFactory:
    def factory(
        config: RagConfig, index: Index, embedder: Embedder, languages: Collection[str]
    ) -> Retriever:
        return HybridRetriever(index, embedder, config.retrieval, languages, names)

    return factory


REGISTRY: dict[str, RetrieverFactory] = {
    "hybrid": _searches("dense", "bm25"),
    "dense": _searches("dense"),
    "bm25": _searches("bm25"),
}


def create_retriever(config: RagConfig, index: Index, embedder: Embedder) -> Retriever:
    """The retriever named by `config.retrieval.mode`, over an open index and loaded embedder.

    The languages the embedder reads come from `embedder.languages`, else from a probe.
    """
    languages = config.embedder.languages
    if languages is None:
        languages = probe_languages(embedder) if config.retrieval.mode == "hybrid" else ["*"]
    return build(
        REGISTRY, "retrieval.mode", config.retrieval.mode, config, index, embedder, languages
    )
