"""Multi-hop retrieval (`retrieval.hops = 2`): a second search seeded by what the first found.

A question whose answer needs two passages ("the government position held by the actress
who played Corliss Archer") often names only the first: the second (the actress's own page)
shares few words with the question. Hop 2 asks, for each of the first search's best
`hop_docs` documents, the question together with that document's best passage (its title
and text: the bridge, "Shirley Temple", is in it), and fuses those lists with the first by
weighted reciprocal rank: the first list keeps its weight, the follow-ups share one of the
same size, so a passage found by several follow-ups rises and the first hop's best stays.

With a generation model configured, the model writes the follow-up instead (IRCoT-style,
Trivedi et al., 2023): it reads the question and the passages found so far and replies with
one search query for what is still missing ("Shirley Temple government position"), which is
searched as written. A model error or an empty reply falls back to the passage follow-ups,
with a warning.

Example:
    >>> search = MultiHopRetriever(HybridRetriever(...), hops=2, hop_docs=3)  # doctest: +SKIP
    >>> search.retrieve("Which office did the actress of Kiss and Tell hold?", 10)  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

from rag.config import RewriteConfig
from rag.errors import GenerationError
from rag.retrieve.base import Retriever
from rag.retrieve.pipeline import fuse_hits
from rag.retrieve.rewrite import ChatModel, first_line
from rag.text import is_cjk
from rag.types import Filters, Hit

__all__ = ["FollowUps", "ModelFollowUps", "MultiHopRetriever", "PassageFollowUps"]

logger = logging.getLogger(__name__)

FOLLOW_UP_CHARS = 600  # of the passage that seeds a follow-up question
PROMPT_CHARS = 400  # of each passage the model reads

_PROMPTS = (
    "Passages found so far for the question:\n{passages}\n\nQuestion: {question}\n\n"
    "Write one search query that would find the information still missing to answer the "
    "question (for example the entity the passages point to). Reply with the query only.",
    "目前为问题找到的段落：\n{passages}\n\n问题：{question}\n\n"
    "写一个检索查询，用来查找回答该问题还缺少的信息（例如段落中提到的实体）。只回答这个查询。",
)


class FollowUps(Protocol):
    """The follow-up queries of a hop, from the question and the passages that seed it."""

    def follow_ups(self, question: str, seeds: Sequence[Hit]) -> list[str]:
        """The queries to search next (at least one when there are seeds)."""
        ...


class PassageFollowUps:
    """One follow-up per seed passage: the question with that passage (its bridge)."""

    def follow_ups(self, question: str, seeds: Sequence[Hit]) -> list[str]:
        return [f"{question}\n{hit.chunk.text[:FOLLOW_UP_CHARS]}" for hit in seeds]


class ModelFollowUps:
    """The model writes one follow-up query from the question and the seed passages."""

    def __init__(self, chat: ChatModel, config: RewriteConfig) -> None:
        self._chat, self._config = chat, config
        self._fallback = PassageFollowUps()

    def follow_ups(self, question: str, seeds: Sequence[Hit]) -> list[str]:
        if not seeds:
            return []
        passages = "\n".join(
            f"[{n}] {hit.chunk.text[:PROMPT_CHARS]}" for n, hit in enumerate(seeds, 1)
        )
        english, chinese = _PROMPTS
        template = chinese if is_cjk(question) else english
        try:
            reply = self._chat.complete(
                template.format(passages=passages, question=question),
                max_tokens=self._config.max_tokens,
                timeout_s=self._config.timeout_s,
            )
        except GenerationError as exc:
            logger.warning(
                "multi-hop: the model did not write a follow-up (%s); "
                "searching the question with each passage",
                exc,
            )
            return self._fallback.follow_ups(question, seeds)
        query = first_line(reply)
        if not query:
            logger.warning(
                "multi-hop: the model's follow-up was empty; "
                "searching the question with each passage"
            )
            return self._fallback.follow_ups(question, seeds)
        return [query]


class MultiHopRetriever:
    """`hops` searches, each seeded by the previous one's best documents, fused."""

    def __init__(
        self,
        first: Retriever,
        hops: int,
        hop_docs: int,
        candidates: int,
        rrf_k: float = 60.0,
        writer: FollowUps | None = None,
    ) -> None:
        self._first, self._hops, self._hop_docs = first, hops, hop_docs
        self._candidates, self._rrf_k = candidates, rrf_k
        self._writer = writer or PassageFollowUps()

    def retrieve(self, query: str, k: int, filters: Filters | None = None) -> list[Hit]:
        depth = max(k, self._candidates)
        lists = {"hop1": self._first.retrieve(query, depth, filters)}
        weights = {"hop1": 1.0}
        seeds = lists["hop1"]
        for hop in range(2, self._hops + 1):
            follow_ups = self._writer.follow_ups(query, _best_documents(seeds, self._hop_docs))
            if not follow_ups:
                break
            found: list[Hit] = []
            for n, text in enumerate(follow_ups, 1):
                name = f"hop{hop}.{n}"
                lists[name] = self._first.retrieve(text, depth, filters)
                weights[name] = 1.0 / len(follow_ups)
                found += lists[name]
            seeds = found
        return fuse_hits(lists, self._rrf_k, "hops", weights)[:k]


def _best_documents(hits: list[Hit], n: int) -> list[Hit]:
    """The best hit of each of the first `n` distinct documents."""
    chosen: dict[str, Hit] = {}
    for hit in hits:
        chosen.setdefault(hit.chunk.doc_id, hit)
        if len(chosen) == n:
            break
    return list(chosen.values())
