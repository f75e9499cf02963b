"""Dense + BM25 search over the chunks, fused; either search alone is the same class.

Fusion knows what the embedder can read: when the question's language is not one the
embedding model covers (a Chinese question with the English-only MiniLM), the dense list
gets weight 0 for that question, so a Chinese question is never ranked worse than by BM25.

Example:
    >>> retriever = HybridRetriever(index, embedder, RetrievalConfig(), {"en"})  # doctest: +SKIP
    >>> [h.stages for h in retriever.retrieve("vitamin D and bone density", k=3)]  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from rag.config import RetrievalConfig
from rag.embed.base import Embedder
from rag.index import Index
from rag.retrieve.fusion import rrf, weighted
from rag.text import is_cjk
from rag.types import Hit, StageScore

__all__ = ["HybridRetriever", "fuse"]

Ranked = list[tuple[str, float]]


class HybridRetriever:
    """`mode` hybrid runs both searches; dense or bm25 runs one."""

    def __init__(
        self,
        index: Index,
        embedder: Embedder,
        config: RetrievalConfig,
        languages: Collection[str],
        searches: Sequence[str] = ("dense", "bm25"),
    ) -> None:
        self._index, self._embedder, self._config = index, embedder, config
        self._languages = set(languages)
        self._searches = tuple(searches)

    def retrieve(self, query: str, k: int) -> list[Hit]:
        return self.search(query, k, doc_ids=None)

    def search(self, query: str, k: int, doc_ids: Collection[str] | None) -> list[Hit]:
        """Like `retrieve`, limited to the chunks of `doc_ids` when given."""
        n = max(k, self._config.candidates)
        lists: dict[str, Ranked] = {}
        dense: dict[str, Hit] = {}
        if "dense" in self._searches and self._reads(query):
            hits = self._index.search(self._embedder.embed_query(query), n, doc_ids)
            dense = {h.chunk.chunk_id: h for h in hits}
            lists["dense"] = [(h.chunk.chunk_id, h.score) for h in hits]
        if "bm25" in self._searches:
            lists["bm25"] = self._index.search_lexical(query, n, doc_ids)
        fused = fuse(lists, self._config)[:k]
        return _materialise(self._index, fused, lists, dense)

    def _reads(self, query: str) -> bool:
        """Whether the embedding model reads the question's language."""
        if "*" in self._languages:
            return True
        return ("zh" if is_cjk(query) else "en") in self._languages or "bm25" not in self._searches


def fuse(lists: Mapping[str, Ranked], config: RetrievalConfig) -> Ranked:
    """One ranking from the named lists, by `config.fusion`; a single list passes as is."""
    present = {name: ranked for name, ranked in lists.items() if ranked}
    if len(present) <= 1:
        return next(iter(present.values()), [])
    weights = {"dense": config.dense_weight, "bm25": config.bm25_weight}
    if config.fusion == "rrf":
        ids = {name: [i for i, _ in ranked] for name, ranked in present.items()}
        return rrf(ids, config.rrf_k, weights)
    return weighted(present, weights, config.fusion)


def _materialise(
    index: Index, fused: Ranked, lists: Mapping[str, Ranked], known: Mapping[str, Hit]
) -> list[Hit]:
    """Hits for the fused ids, each with its score and rank in every list it was in."""
    missing = [i for i, _ in fused if i not in known]
    chunks = {i: h.chunk for i, h in known.items()} | index.chunks(missing)
    stage = "fused" if len([v for v in lists.values() if v]) > 1 else next(iter(lists), "none")
    positions = {
        name: {i: (rank, score) for rank, (i, score) in enumerate(ranked, 1)}
        for name, ranked in lists.items()
    }
    hits = []
    for rank, (chunk_id, score) in enumerate(fused, 1):
        if chunk_id not in chunks:  # removed between search and fetch
            continue
        stages = tuple(
            StageScore(name, where[chunk_id][1], where[chunk_id][0])
            for name, where in positions.items()
            if chunk_id in where
        )
        if stage == "fused":
            stages += (StageScore("fused", score, rank),)
        hits.append(Hit(chunks[chunk_id], score, stage, stages))
    return hits
