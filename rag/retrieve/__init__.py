"""Retrievers, chosen by `retrieval.mode`."""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection

from rag.config import RagConfig
from rag.embed.base import Embedder
from rag.embed.languages import probe_languages
from rag.index import Index
from rag.registry import build
from rag.rerank import create_reranker
from rag.retrieve.base import Retriever
from rag.retrieve.hybrid import HybridRetriever
from rag.retrieve.multihop import ModelFollowUps, MultiHopRetriever, PassageFollowUps
from rag.retrieve.native import NativeHybridRetriever
from rag.retrieve.pipeline import SearchPipeline, SearchTrace
from rag.retrieve.rewrite import ChatModel, LLMRewriter, NoRewriter, Rewriter
from rag.retrieve.two_level import TwoLevelRetriever

__all__ = [
    "REGISTRY",
    "Retriever",
    "SearchPipeline",
    "SearchTrace",
    "create_retriever",
    "create_search",
    "embedder_languages",
]

logger = logging.getLogger(__name__)

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


def _native(
    config: RagConfig, index: Index, embedder: Embedder, languages: Collection[str]
) -> Retriever:
    return NativeHybridRetriever(index, embedder, config.retrieval, languages)


REGISTRY: dict[str, RetrieverFactory] = {
    "two_level": _two_level,
    "native_hybrid": _native,
    "hybrid": _searches("dense", "bm25"),
    "dense": _searches("dense"),
    "bm25": _searches("bm25"),
}


def embedder_languages(config: RagConfig, embedder: Embedder) -> list[str]:
    """The languages the embedder reads: `embedder.languages`, else measured by a probe
    (only needed, and only run, when dense and BM25 results are fused)."""
    if config.embedder.languages is not None:
        return list(config.embedder.languages)
    if config.retrieval.mode in ("hybrid", "two_level", "native_hybrid"):
        return probe_languages(embedder)
    return ["*"]


def create_retriever(
    config: RagConfig,
    index: Index,
    embedder: Embedder,
    languages: Collection[str] | None = None,
    chat: ChatModel | None = None,
) -> Retriever:
    """The retriever named by `config.retrieval.mode`, over an open index and loaded embedder;
    with `hops` > 1, multi-hop around it (the follow-ups written by `chat` when given)."""
    if languages is None:
        languages = embedder_languages(config, embedder)
    retriever = build(
        REGISTRY, "retrieval.mode", config.retrieval.mode, config, index, embedder, languages
    )
    retrieval = config.retrieval
    if retrieval.hops == 1:
        return retriever
    writer = ModelFollowUps(chat, config.rewrite) if chat is not None else PassageFollowUps()
    return MultiHopRetriever(
        retriever,
        retrieval.hops,
        retrieval.hop_docs,
        retrieval.candidates,
        retrieval.rrf_k,
        writer,
    )


def create_search(
    config: RagConfig,
    index: Index,
    embedder: Embedder,
    languages: Collection[str] | None = None,
    chat: ChatModel | None = None,
) -> SearchPipeline:
    """Rewriting (with a chat model), the configured retriever, and the reranker."""
    rewriter: Rewriter = NoRewriter()
    if config.rewrite.strategies and chat is not None:
        rewriter = LLMRewriter(chat, config.rewrite)
    elif config.rewrite.strategies:
        logger.warning(
            "query rewriting (%s) needs a generation model; searching questions as asked",
            ", ".join(config.rewrite.strategies),
        )
    retriever = create_retriever(config, index, embedder, languages, chat)
    reranker = create_reranker(config.reranker)
    candidates = config.reranker.candidates if config.reranker.backend != "none" else 0
    return SearchPipeline(
        retriever, rewriter, reranker, candidates, config.retrieval.rrf_k, kb=config.kb
    )
