"""Dense + BM25 search over the chunks, fused; either search alone is the same class.

With `feedback_docs` set (the default), dense search runs twice: the query vector moved
toward the best documents of the first fused ranking (Rocchio, `feedback.py`) is searched
again and its list replaces the first dense list in the fusion; the first one stays on the
hits as the `dense` stage (its cosine to the question as asked).

Fusion knows what the embedder can read: when the question's language is not one the
embedding model covers (a Chinese question with the English-only MiniLM), the dense list
gets weight 0 for that question, so a Chinese question is never ranked worse than by BM25.

Example:
    >>> retriever = HybridRetriever(index, embedder, RetrievalConfig(), {"en"})  # doctest: +SKIP
    >>> [h.stages for h in retriever.retrieve("vitamin D and bone density", k=3)]  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from rag.config import RetrievalConfig
from rag.embed.base import Embedder
from rag.embed.languages import reads
from rag.index import Index
from rag.retrieve.confidence import Calibrator
from rag.retrieve.feedback import RocchioFeedback
from rag.retrieve.fusion import rrf, weighted
from rag.types import Chunk, Filters, Hit, StageScore

__all__ = ["HybridRetriever", "Rankings", "fuse", "materialise"]

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
        self._feedback = RocchioFeedback(config.feedback_docs, config.feedback_weight)
        self._calibrator = Calibrator(config.confidence, lambda: embedder.fingerprint.name)

    def retrieve(self, query: str, k: int, filters: Filters | None = None) -> list[Hit]:
        vector = self.query_vector(query)
        with self._index.reading():
            return self.search(query, vector, k, self._index.allowed(filters))

    def query_vector(self, query: str) -> np.ndarray | None:
        """The query's embedding, or None when dense search does not apply to it."""
        if "dense" not in self._searches or not self._reads(query):
            return None
        return self._embedder.embed_query(query)

    def search(
        self, query: str, vector: np.ndarray | None, k: int, doc_ids: Collection[str] | None
    ) -> list[Hit]:
        """Like `retrieve`, with the query vector given, limited to the chunks of `doc_ids`
        when given."""
        with self._index.reading():  # one consistent view of the index
            fused, lists = self.ranked(query, vector, max(k, self._config.candidates), doc_ids)
            hits = materialise(self._index, fused[:k], lists)
            return self.calibrated(query, hits, lists)

    def ranked(
        self, query: str, vector: np.ndarray | None, n: int, doc_ids: Collection[str] | None
    ) -> tuple[Ranked, Rankings]:
        """The fused ranking (with feedback, when on) and the lists it came from."""
        lists = self.rankings(query, vector, n, doc_ids)
        fused = fuse(lists.ranked, self._config)
        if vector is not None and self._feedback.enabled:
            fused = self._with_feedback(vector, fused, lists, n, doc_ids)
        return fused, lists

    def calibrated(self, query: str, hits: list[Hit], lists: Rankings) -> list[Hit]:
        """The hits with their calibrated confidence, from the lists that found them."""
        bm25 = lists.ranked.get("bm25")
        if bm25 is None:  # dense alone: the BM25 share is still what the model expects
            bm25 = self._index.search_lexical(query, max(len(hits), 50)) if hits else []
        dense = lists.ranked.get("dense")
        return self._calibrator.apply(hits, dense, bm25, self._index.lexical_ceiling(query))

    def _with_feedback(
        self,
        vector: np.ndarray,
        fused: Ranked,
        lists: Rankings,
        n: int,
        doc_ids: Collection[str] | None,
    ) -> Ranked:
        """The fusion again, with the dense list of the Rocchio feedback query in place of
        the first dense list (which stays in `lists` for the hits' stages)."""
        moved = self._feedback.query(vector, fused, self._index, lists.known)
        if moved is None:
            return fused
        lists.ranked["feedback"] = self._index.rank_dense(moved, n, doc_ids)
        weights = {
            "dense": 0.0,
            "feedback": self._config.dense_weight,
            "bm25": self._config.bm25_weight,
        }
        return fuse(lists.ranked, self._config, weights)

    def rankings(
        self, query: str, vector: np.ndarray | None, n: int, doc_ids: Collection[str] | None
    ) -> Rankings:
        """Each search's top `n` (chunk id, score) list, by search name."""
        out = Rankings()
        if vector is not None:
            hits = self._index.search(vector, n, doc_ids)
            out.known.update((h.chunk.chunk_id, h.chunk) for h in hits)
            out.ranked["dense"] = [(h.chunk.chunk_id, h.score) for h in hits]
        if "bm25" in self._searches:
            out.ranked["bm25"] = self._index.search_lexical(query, n, doc_ids)
        return out

    def _reads(self, query: str) -> bool:
        """Whether the embedding model reads the question's language."""
        return "bm25" not in self._searches or reads(self._languages, query)


@dataclass
class Rankings:
    """Ranked lists by search name, and the chunks already fetched with them."""

    ranked: dict[str, Ranked] = field(default_factory=dict)
    known: dict[str, Chunk] = field(default_factory=dict)


def fuse(
    lists: Mapping[str, Ranked],
    config: RetrievalConfig,
    weights: Mapping[str, float] | None = None,
) -> Ranked:
    """One ranking from the named lists, by `config.fusion`; a list of weight 0 is left out.
    Weights default to `dense_weight` and `bm25_weight`. A single list keeps its order with
    its scores min-max normalised, so every final score is on one 0-1 scale (best 1) whether
    one search ran or two (a Chinese question the embedder cannot read: BM25 alone)."""
    if weights is None:
        weights = {"dense": config.dense_weight, "bm25": config.bm25_weight}
    present = {
        name: ranked for name, ranked in lists.items() if ranked and weights.get(name, 1.0) > 0
    }
    if len(present) <= 1:
        return weighted(present) if present else []
    if config.fusion == "rrf":
        ids = {name: [i for i, _ in ranked] for name, ranked in present.items()}
        return rrf(ids, config.rrf_k, weights)
    return weighted(present, weights, config.fusion)


def materialise(index: Index, fused: Ranked, lists: Rankings, stage: str = "fused") -> list[Hit]:
    """Hits for the fused ids, each with its score and rank in every list it was in; a
    single list keeps its own name as the stage."""
    missing = [i for i, _ in fused if i not in lists.known]
    chunks = lists.known | index.chunks(missing)
    present = [name for name, ranked in lists.ranked.items() if ranked]
    final = stage if len(present) > 1 else next(iter(present), stage)
    positions = {
        name: {i: (rank, score) for rank, (i, score) in enumerate(ranked, 1)}
        for name, ranked in lists.ranked.items()
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
        if final not in lists.ranked:
            stages += (StageScore(final, score, rank),)
        hits.append(Hit(chunks[chunk_id], score, final, stages))
    return hits
