"""The model-free answer: the retrieved sentences most similar to the question, cited.

Example:
    >>> generator = ExtractiveGenerator(AnswerConfig(), embedder)  # doctest: +SKIP
    >>> generator.generate("how many days of leave?", hits).text  # doctest: +SKIP
    'Employees receive 20 days of paid leave per year. [1]'
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from rag.config import AnswerConfig
from rag.embed.base import Embedder
from rag.text import is_cjk, split_sentences
from rag.types import Answer, Citation, Hit

__all__ = ["NOTHING_FOUND", "NO_ANSWER", "ExtractiveGenerator"]

NO_ANSWER = {
    "en": "The indexed documents do not seem to answer this question; the closest passages are "
    "listed below.",
    "zh": "已索引的文档中似乎没有这个问题的答案；下面列出了最接近的段落。",
}
NOTHING_FOUND = {
    "en": "No passage of the indexed documents matches this question.",
    "zh": "已索引的文档中没有与这个问题相关的段落。",
}


class ExtractiveGenerator:
    """Picks up to `max_sentences` sentences with cosine similarity ≥ `min_similarity`."""

    def __init__(self, config: AnswerConfig, embedder: Embedder) -> None:
        self._config = config
        self._embedder = embedder

    def generate(self, question: str, hits: Sequence[Hit]) -> Answer:
        started = time.perf_counter()
        citations = tuple(Citation(n, hit) for n, hit in enumerate(hits, 1))
        candidates = [
            (n, i, s)
            for n, hit in enumerate(hits, 1)
            for i, s in enumerate(split_sentences(hit.chunk.text))
            if _informative(s)
        ]
        lang = "zh" if is_cjk(question) else "en"
        if not candidates:
            message = NO_ANSWER[lang] if hits else NOTHING_FOUND[lang]
            return Answer(message, citations, no_context=True)
        query = self._embedder.embed_query(question)
        vectors = self._embedder.embed_documents([s for _, _, s in candidates])
        scores = vectors @ query
        chosen = self._choose(candidates, scores)
        if not chosen:
            return Answer(NO_ANSWER[lang], citations, no_context=True)
        text = _join([f"{s} [{n}]" for n, _, s in sorted(chosen)])
        elapsed = (time.perf_counter() - started) * 1000
        cited = tuple(sorted({n for n, _, _ in chosen}))
        return Answer(text, citations, timings_ms={"generate": elapsed}, cited=cited)

    def _choose(
        self, candidates: list[tuple[int, int, str]], scores: np.ndarray
    ) -> list[tuple[int, int, str]]:
        chosen: list[tuple[int, int, str]] = []
        seen: set[str] = set()
        for index in np.argsort(-scores):
            if (
                scores[index] < self._config.min_similarity
                or len(chosen) >= self._config.max_sentences
            ):
                break
            key = " ".join(candidates[index][2].lower().split())
            if key not in seen:
                seen.add(key)
                chosen.append(candidates[index])
        return chosen


def _informative(sentence: str) -> bool:
    """Skip headings, list markers and fragments: they answer nothing on their own."""
    stripped = sentence.strip("#*-•>|: \t")
    if is_cjk(stripped):
        return len(stripped) >= 6
    return len(stripped.split()) >= 4


def _join(parts: list[str]) -> str:
    out = parts[0]
    for part in parts[1:]:
        out += ("" if is_cjk(out[-6:]) and is_cjk(part[:1]) else " ") + part
    return out
