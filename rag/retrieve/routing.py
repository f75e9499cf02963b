"""Routing a question to knowledge bases: the two-level idea one level up.

A knowledge base is described by its description and by its documents' summaries. For a
question, each knowledge base is scored by the best of: the cosine of the question to its
description, and the mean cosine of the question to its `top_docs` closest summaries. The
best-scoring knowledge base is chosen, with any other within `margin` of it (at most
`max_kbs`). A question the embedder cannot read (Chinese with the English-only MiniLM) is
routed by its terms instead: each knowledge base is scored by the share of the question's
distinct terms that its summaries or its description contain.

Example:
    >>> router = KbRouter(embedder, {"en"})  # doctest: +SKIP
    >>> [r.kb for r in router.route("How do I reset my VPN token?", candidates)]  # doctest: +SKIP
    ['it']
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Mapping
from dataclasses import dataclass

import numpy as np

from rag.embed.base import Embedder
from rag.embed.languages import reads
from rag.index import Index

__all__ = ["KbRouter", "Route", "RouteTarget"]


@dataclass(frozen=True, slots=True)
class RouteTarget:
    """A knowledge base as the router sees it."""

    description: str
    index: Index


@dataclass(frozen=True, slots=True)
class Route:
    """A chosen knowledge base, its score, and what the score came from."""

    kb: str
    score: float
    by: str  # "description", "summaries" or "bm25"


class KbRouter:
    """Scores knowledge bases for a question; thread-safe."""

    def __init__(
        self,
        embedder: Embedder,
        languages: Collection[str],
        *,
        top_docs: int = 3,
        margin: float = 0.05,
        max_kbs: int = 2,
    ) -> None:
        self._embedder, self._languages = embedder, set(languages)
        self._top_docs, self._margin, self._max_kbs = top_docs, margin, max_kbs
        self._descriptions: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()

    def scores(self, question: str, targets: Mapping[str, RouteTarget]) -> list[Route]:
        """Every knowledge base with its score, best first."""
        if reads(self._languages, question):
            vector = self._embedder.embed_query(question)
            routes = [self._dense(name, t, vector) for name, t in targets.items()]
        else:
            routes = [self._lexical(name, t, question) for name, t in targets.items()]
        return sorted(routes, key=lambda r: -r.score)

    def route(self, question: str, targets: Mapping[str, RouteTarget]) -> list[Route]:
        """The chosen knowledge bases, best first (at least one when there are any)."""
        ranked = self.scores(question, targets)
        if not ranked:
            return []
        best = ranked[0].score
        chosen = [r for r in ranked if r.score >= best - self._margin]
        return chosen[: self._max_kbs]

    def _dense(self, name: str, target: RouteTarget, vector: np.ndarray) -> Route:
        routes = [Route(name, -1.0, "summaries")]
        hits = target.index.search_summaries(vector, self._top_docs)
        if hits:
            routes.append(Route(name, float(np.mean([s for _, s in hits])), "summaries"))
        if target.description.strip():
            described = self._description(name, target.description)
            routes.append(Route(name, float(described @ vector), "description"))
        return max(routes, key=lambda r: r.score)

    def _description(self, name: str, description: str) -> np.ndarray:
        key = f"{name}\x00{description}"
        with self._lock:
            known = self._descriptions.get(key)
        if known is None:
            known = self._embedder.embed_documents([description])[0]
            with self._lock:
                self._descriptions[key] = known
        return known

    def _lexical(self, name: str, target: RouteTarget, question: str) -> Route:
        """The share of the question's distinct terms found in the knowledge base's
        summaries or description."""
        analyzer = target.index.analyzer
        terms = set(analyzer.terms(question))
        if not terms:
            return Route(name, 0.0, "bm25")
        described = set(analyzer.terms(target.description))
        found = sum(
            1
            for term in terms
            if term in described or target.index.catalog.summary_bm25.search([term], 1)
        )
        return Route(name, found / len(terms), "bm25")
