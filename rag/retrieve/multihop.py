"""Multi-hop retrieval (`retrieval.hops = 2`): a second search seeded by what the first found.

A question whose answer needs two passages ("the government position held by the actress
who played Corliss Archer") often names only the first: the second (the actress's own page)
shares few words with the question. Hop 2 asks, for each of the first search's best
`hop_docs` documents, the question together with that document's best passage (its title
and text: the bridge, "Shirley Temple", is in it), and fuses those lists with the first by
weighted reciprocal rank: the first list keeps its weight, the follow-ups share one of the
same size, so a passage found by several follow-ups rises and the first hop's best stays.

Example:
    >>> search = MultiHopRetriever(HybridRetriever(...), hops=2, hop_docs=3)  # doctest: +SKIP
    >>> search.retrieve("Which office did the actress of Kiss and Tell hold?", 10)  # doctest: +SKIP
"""

from __future__ import annotations

from rag.retrieve.base import Retriever
from rag.retrieve.pipeline import fuse_hits
from rag.types import Filters, Hit

__all__ = ["MultiHopRetriever"]

FOLLOW_UP_CHARS = 600  # of the passage that seeds a follow-up question


class MultiHopRetriever:
    """`hops` searches, each seeded by the previous one's best documents, fused."""

    def __init__(
        self, first: Retriever, hops: int, hop_docs: int, candidates: int, rrf_k: float = 60.0
    ) -> None:
        self._first, self._hops, self._hop_docs = first, hops, hop_docs
        self._candidates, self._rrf_k = candidates, rrf_k

    def retrieve(self, query: str, k: int, filters: Filters | None = None) -> list[Hit]:
        depth = max(k, self._candidates)
        lists = {"hop1": self._first.retrieve(query, depth, filters)}
        weights = {"hop1": 1.0}
        seeds = lists["hop1"]
        for hop in range(2, self._hops + 1):
            follow_ups = [
                self._follow_up(query, hit) for hit in _best_documents(seeds, self._hop_docs)
            ]
            found: list[Hit] = []
            for n, text in enumerate(follow_ups, 1):
                name = f"hop{hop}.{n}"
                lists[name] = self._first.retrieve(text, depth, filters)
                weights[name] = 1.0 / len(follow_ups)
                found += lists[name]
            seeds = found
        return fuse_hits(lists, self._rrf_k, "hops", weights)[:k]

    @staticmethod
    def _follow_up(question: str, hit: Hit) -> str:
        """The question with the passage that may hold its bridge."""
        return f"{question}\n{hit.chunk.text[:FOLLOW_UP_CHARS]}"


def _best_documents(hits: list[Hit], n: int) -> list[Hit]:
    """The best hit of each of the first `n` distinct documents."""
    chosen: dict[str, Hit] = {}
    for hit in hits:
        chosen.setdefault(hit.chunk.doc_id, hit)
        if len(chosen) == n:
            break
    return list(chosen.values())
