"""Rerankers, chosen by `reranker.backend`; `none` keeps the retrieval order."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rag.config import RerankerConfig
from rag.registry import build
from rag.rerank.base import Reranker
from rag.types import Hit

__all__ = ["REGISTRY", "NoReranker", "Reranker", "create_reranker"]


class NoReranker:
    """Keeps the retriever's order."""

    def rerank(self, query: str, hits: Sequence[Hit]) -> list[Hit]:
        return list(hits)


def _cross_encoder(config: RerankerConfig) -> Reranker:
    from rag.rerank.cross_encoder import CrossEncoderReranker

    return CrossEncoderReranker(config)


REGISTRY: dict[str, Callable[[RerankerConfig], Reranker]] = {
    "none": lambda config: NoReranker(),
    "cross_encoder": _cross_encoder,
}


def create_reranker(config: RerankerConfig) -> Reranker:
    """The reranker named by `config.backend` (models load on first use)."""
    return build(REGISTRY, "reranker.backend", config.backend, config)
