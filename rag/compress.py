"""Context compression: from retrieved chunks to the context the answer step reads.

1. Sentence filtering: each chunk keeps the sentences similar enough to the question
   (cosine with the embedder; the share of the question's BM25 terms when the embedder
   cannot read the question's language), plus `neighbours` sentences on each side so a kept
   sentence keeps its sense. A chunk with no such sentence is dropped, except the best one.
2. Packing: chunks in rank order until `budget_tokens` (counted by the answering model's
   tokenizer, or a safe estimate of it, when a model answers; else by the embedder's);
   the chunk that crosses the budget keeps the sentences that fit.
3. Lost-in-the-middle order (Liu et al., 2023): models read the start and the end of a long
   context best, so the best chunk goes first, the second best last, the weakest in the middle.

Each kept hit's chunk text is replaced by its kept sentences (joined by " … " where
sentences were cut out); scores and stages are unchanged.

Example:
    >>> config = CompressionConfig(budget_tokens=1000)
    >>> compressor = SentenceCompressor(config, embedder, analyzer, {"en"})  # doctest: +SKIP
    >>> context = compressor.compress("how many days of leave?", hits)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import replace
from typing import Protocol

import numpy as np

from rag.config import CompressionConfig
from rag.embed.base import Embedder
from rag.embed.languages import reads
from rag.generate.tokens import TokenCounter
from rag.lexical.analyzer import Analyzer
from rag.registry import build
from rag.text import is_cjk, sentence_spans
from rag.types import Hit

__all__ = ["REGISTRY", "Compressor", "NoCompressor", "SentenceCompressor", "create_compressor"]

_GAP = " … "


class Compressor(Protocol):
    """Turns the retrieved hits into the context hits, in the order they are shown."""

    def compress(
        self, query: str, hits: Sequence[Hit], budget_tokens: int | None = None
    ) -> list[Hit]:
        """The hits to show, their text cut to what matters, within the budget (the lower
        of `compression.budget_tokens` and `budget_tokens`)."""
        ...


class NoCompressor:
    """Passes the hits through."""

    def compress(
        self, query: str, hits: Sequence[Hit], budget_tokens: int | None = None
    ) -> list[Hit]:
        return list(hits)


class SentenceCompressor:
    """Sentence filtering, token budget, lost-in-the-middle order."""

    def __init__(
        self,
        config: CompressionConfig,
        embedder: Embedder,
        analyzer: Analyzer,
        languages: Collection[str],
        counter: TokenCounter | None = None,
    ) -> None:
        self._config, self._embedder, self._analyzer = config, embedder, analyzer
        self._languages = set(languages)
        self._counter: TokenCounter = counter or embedder.tokenizer

    def compress(
        self, query: str, hits: Sequence[Hit], budget_tokens: int | None = None
    ) -> list[Hit]:
        if not hits:
            return []
        budget = min(self._config.budget_tokens, budget_tokens or self._config.budget_tokens)
        spans = [sentence_spans(h.chunk.text) for h in hits]
        texts = [h.chunk.text[a:b] for h, own in zip(hits, spans, strict=True) for a, b in own]
        scores, threshold = self._scores(query, texts)
        kept: list[Hit] = []
        used = 0
        start = 0
        for rank, (hit, own) in enumerate(zip(hits, spans, strict=True)):
            mine = scores[start : start + len(own)]
            start += len(own)
            chosen = self._choose(mine, threshold, keep_best=rank == 0)
            if not chosen:
                continue
            chosen, tokens = self._fit(hit.chunk.text, own, chosen, budget - used)
            if not chosen:
                break
            used += tokens
            kept.append(
                replace(hit, chunk=replace(hit.chunk, text=_join(hit.chunk.text, own, chosen)))
            )
            if used >= budget:
                break
        return _lost_in_the_middle(kept) if self._config.reorder else kept

    def _scores(self, query: str, sentences: list[str]) -> tuple[np.ndarray, float]:
        """Each sentence's similarity to the query, and the threshold it must reach."""
        if reads(self._languages, query):
            vectors = self._embedder.embed_documents(sentences)
            return vectors @ self._embedder.embed_query(query), self._config.min_similarity
        wanted = set(self._analyzer.terms(query))
        if not wanted:
            return np.ones(len(sentences)), 0.0
        overlap = [len(wanted & set(self._analyzer.terms(s))) / len(wanted) for s in sentences]
        return np.asarray(overlap), self._config.min_overlap

    def _choose(self, scores: np.ndarray, threshold: float, keep_best: bool) -> list[int]:
        """Indexes of the sentences kept, with their neighbours, in text order."""
        if not len(scores):
            return []
        hits = [i for i, s in enumerate(scores) if s >= threshold]
        if not hits and keep_best:
            hits = [int(np.argmax(scores))]
        n, reach = len(scores), self._config.neighbours
        return sorted({j for i in hits for j in range(max(0, i - reach), min(n, i + reach + 1))})

    def _fit(
        self, text: str, spans: list[tuple[int, int]], chosen: list[int], room: int
    ) -> tuple[list[int], int]:
        """The leading chosen sentences that fit in `room` tokens, and their token count."""
        counts = self._counter.count([text[spans[i][0] : spans[i][1]] for i in chosen])
        fitted, used = [], 0
        for i, count in zip(chosen, counts, strict=True):
            if used + count > room:
                break
            fitted.append(i)
            used += count
        return fitted, used


def _join(text: str, spans: list[tuple[int, int]], chosen: list[int]) -> str:
    """The chosen sentences with the original text between neighbours, a gap mark elsewhere."""
    out = text[spans[chosen[0]][0] : spans[chosen[0]][1]]
    for before, i in zip(chosen, chosen[1:], strict=False):
        between = text[spans[before][1] : spans[i][0]] if i == before + 1 else _GAP
        if i == before + 1 and not between and not is_cjk(text[spans[i][0] : spans[i][1]]):
            between = " "
        out += between + text[spans[i][0] : spans[i][1]]
    return out


def _lost_in_the_middle(hits: list[Hit]) -> list[Hit]:
    """Ranks 1, 3, 5, ... then ..., 6, 4, 2: the best at both ends, the weakest in the middle."""
    return hits[0::2] + hits[1::2][::-1]


CompressorFactory = Callable[
    [CompressionConfig, Embedder, Analyzer, Collection[str], TokenCounter | None], Compressor
]

REGISTRY: dict[str, CompressorFactory] = {
    "sentences": SentenceCompressor,
    "none": lambda config, embedder, analyzer, languages, counter: NoCompressor(),
}


def create_compressor(
    config: CompressionConfig,
    embedder: Embedder,
    analyzer: Analyzer,
    languages: Collection[str],
    counter: TokenCounter | None = None,
) -> Compressor:
    """The compressor named by `config.method`; `counter` counts the budget's tokens (the
    embedder's tokenizer when None)."""
    return build(
        REGISTRY,
        "compression.method",
        config.method,
        config,
        embedder,
        analyzer,
        languages,
        counter,
    )
