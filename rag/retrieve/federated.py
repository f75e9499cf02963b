"""Several knowledge bases searched as one: each with its own search, the lists fused.

Each knowledge base runs its whole search (rewriting, retrieval, reranking); its hits keep
their knowledge base (`Hit.kb`) and every stage's scores from it. The lists are fused by
reciprocal rank, on (knowledge base, chunk id): scores of different indexes are not on one
scale (BM25 statistics differ, each list's fused scores are normalised to its own best),
ranks are. Each knowledge base's first hit gets the same fused score, so ties are broken by
the dense cosine, the one score that is comparable across knowledge bases (same model).

Example:
    >>> searches = {"hr": hr.pipeline.search, "it": it.pipeline.search}  # doctest: +SKIP
    >>> search = FederatedSearch(searches)  # doctest: +SKIP
    >>> [h.kb for h in search.retrieve("VPN setup", 5)]  # doctest: +SKIP
    ['it', 'it', 'hr', 'it', 'it']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from rag.retrieve.base import Search
from rag.retrieve.fusion import rrf
from rag.retrieve.pipeline import SearchTrace
from rag.types import Filters, Hit, StageScore

__all__ = ["FederatedSearch"]


class FederatedSearch:
    """A `Search` over the searches of several knowledge bases, by name."""

    def __init__(self, searches: Mapping[str, Search], rrf_k: float = 60.0) -> None:
        if not searches:
            raise ValueError("FederatedSearch needs at least one knowledge base")
        self.searches = dict(searches)
        self._rrf_k = rrf_k

    def retrieve(self, query: str, k: int, filters: Filters | None = None) -> list[Hit]:
        return list(self.trace(query, k, filters=filters).hits)

    def trace(
        self,
        query: str,
        k: int,
        history: Sequence[tuple[str, str]] = (),
        filters: Filters | None = None,
    ) -> SearchTrace:
        traces = {
            name: search.trace(query, k, history, filters) for name, search in self.searches.items()
        }
        first = next(iter(traces.values()))
        warnings = tuple(w for t in traces.values() for w in t.warnings)
        retrieved = self._fuse({name: list(t.retrieved) for name, t in traces.items()})
        hits = self._fuse({name: list(t.hits) for name, t in traces.items()})[:k]
        return SearchTrace(first.queries, tuple(retrieved), tuple(hits), warnings)

    def _fuse(self, lists: Mapping[str, list[Hit]]) -> list[Hit]:
        tagged = {name: [replace(h, kb=name) for h in hits] for name, hits in lists.items()}
        if len(tagged) == 1:
            return next(iter(tagged.values()))
        by_key = {(h.kb, h.chunk.chunk_id): h for hits in tagged.values() for h in hits}
        ranked = {
            name: [f"{h.kb}\x00{h.chunk.chunk_id}" for h in hits] for name, hits in tagged.items()
        }
        pairs = rrf(ranked, self._rrf_k)
        fused = [(by_key[_split(key)], score) for key, score in pairs]
        fused.sort(key=lambda pair: (-round(pair[1], 12), -_dense(pair[0])))
        return [
            replace(
                hit, score=score, stage="kbs", stages=(*hit.stages, StageScore("kbs", score, rank))
            )
            for rank, (hit, score) in enumerate(fused, 1)
        ]


def _split(key: str) -> tuple[str, str]:
    kb, chunk_id = key.split("\x00", 1)
    return kb, chunk_id


def _dense(hit: Hit) -> float:
    """The hit's dense cosine, when dense search found it (else below any cosine)."""
    return next((s.score for s in hit.stages if s.stage == "dense"), -2.0)
