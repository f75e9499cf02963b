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
from rag.retrieve.two_level import TwoLevelRetriever

__all__ = ["REGISTRY", "Retriever", "create_retriever"]

RetrieverFactory = Callable[[RagConfig, Index, Embedder, Collection[str]], Retriever]


def _searches(*names: str) -> RetrieverFactory:
    def factory(
        config: RagConfig, index: Index, embedder: Embedder, languages: Collection[str]
    ) -> Retriever:
        return HybridRetriever(index, embedder, config.retrieval, languages, names)

    return factory


def _two_level(
    config: RagConfig, index: Index, embedder: Embedder, languages: Collection[str]
) -> Retriever:
    chunks = HybridRetriever(index, embedder, config.retrieval, languages)
    return TwoLevelRetriever(chunks, index, config.retrieval)


REGISTRY: dict[str, RetrieverFactory] = {
    "two_level": _two_level,
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
        hybrid = config.retrieval.mode in ("hybrid", "two_level")
        languages = probe_languages(embedder) if hybrid else ["*"]
    return build(
        REGISTRY, "retrieval.mode", config.retrieval.mode, config, index, embedder, languages
    )
