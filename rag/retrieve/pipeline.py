"""The whole search: query rewriting, retrieval, reranking, as one `Retriever`.

Each rewritten query (the original one only, until a generation model is configured) runs
through the configured retriever; several result lists are fused by reciprocal rank; the
reranker, when one is configured, re-scores the best of them. `trace()` runs the same steps
and keeps what each produced, for `rag ask --explain`.

Example:
    >>> search = SearchPipeline(retriever, NoRewriter(), NoReranker(), rrf_k=60)  # doctest: +SKIP
    >>> search.trace("leave carry-over rules", k=5).queries  # doctest: +SKIP
    ['leave carry-over rules']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from rag.rerank.base import Reranker
from rag.retrieve.base import Retriever, SearchTrace
from rag.retrieve.fusion import rrf
from rag.retrieve.rewrite import Rewriter
from rag.types import Filters, Hit, StageScore

__all__ = ["SearchPipeline", "SearchTrace", "fuse_hits"]


class SearchPipeline:
    """Rewrite, retrieve each query, fuse, rerank."""

    def __init__(
        self,
        retriever: Retriever,
        rewriter: Rewriter,
        reranker: Reranker,
        rerank_candidates: int,
        rrf_k: float = 60.0,
        kb: str = "",
    ) -> None:
        self.retriever, self.kb = retriever, kb
        self._rewriter, self._reranker = rewriter, reranker
        self._candidates, self._rrf_k = rerank_candidates, rrf_k

    def retrieve(self, query: str, k: int, filters: Filters | None = None) -> list[Hit]:
        return list(self.trace(query, k, filters=filters).hits)

    def trace(
        self,
        query: str,
        k: int,
        history: Sequence[tuple[str, str]] = (),
        filters: Filters | None = None,
    ) -> SearchTrace:
        """Run every step for `query` (with earlier (question, answer) turns, if any), over
        the documents `filters` allow."""
        rewritten = self._rewriter.rewrite(query, history)
        depth = max(k, self._candidates)
        lists = [self.retriever.retrieve(q, depth, filters) for q in rewritten.queries]
        named = {f"q{i}": hits for i, hits in enumerate(lists)}
        retrieved = (
            lists[0] if len(lists) == 1 else fuse_hits(named, self._rrf_k, "queries")[:depth]
        )
        hits = self._reranker.rerank(rewritten.queries[0], retrieved)[:k]
        if self.kb:
            retrieved = [replace(h, kb=self.kb) for h in retrieved]
            hits = [replace(h, kb=self.kb) for h in hits]
        return SearchTrace(
            tuple(rewritten.queries), tuple(retrieved), tuple(hits), tuple(rewritten.warnings)
        )


def fuse_hits(
    lists: Mapping[str, Sequence[Hit]],
    k: float,
    stage: str,
    weights: Mapping[str, float] | None = None,
) -> list[Hit]:
    """(Weighted) reciprocal-rank fusion of named hit lists, by chunk id; each hit keeps the
    stages (and confidence) of the first list that found it, plus the `stage` score."""
    first: dict[str, Hit] = {}
    for hits in lists.values():
        for hit in hits:
            first.setdefault(hit.chunk.chunk_id, hit)
    ranked = {name: [h.chunk.chunk_id for h in hits] for name, hits in lists.items()}
    return [
        replace(
            first[i],
            score=score,
            stage=stage,
            stages=(*first[i].stages, StageScore(stage, score, rank)),
        )
        for rank, (i, score) in enumerate(rrf(ranked, k, weights), 1)
    ]
