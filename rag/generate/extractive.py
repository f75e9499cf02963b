"""The model-free answer: the retrieved sentences that best answer the question, cited.

Each sentence of the context is scored against the question by something that reads both:
the embedder's cosine when it reads the question's and the sentence's language, otherwise
their lexical overlap (the share of the question's BM25 terms the sentence holds, or of its
Chinese character bigrams, whichever is higher). Sentences are given best first
(`max_sentences`, at least `min_similarity` by cosine or `min_overlap` by overlap, and at
least `min_share` of the best sentence's score: a weaker neighbour is not an answer);
headings and titles (a chunk's section titles, a short line without a sentence's ending)
are never quoted as the answer. A question in one language over passages in another that
nothing can score together says so and lists the passages, rather than quoting one.

Example:
    >>> generator = ExtractiveGenerator(AnswerConfig(), embedder, {"en"})  # doctest: +SKIP
    >>> generator.generate("how many days of leave?", hits).text  # doctest: +SKIP
    'Employees receive 20 days of paid leave per year. [1]'
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

import numpy as np

from rag.config import AnswerConfig
from rag.embed.base import Embedder
from rag.embed.languages import reads
from rag.lexical.analyzer import Analyzer
from rag.lexical.stopwords import STOPWORDS
from rag.text import CJK_CHARS, is_cjk, split_sentences
from rag.types import Answer, Citation, Hit

__all__ = ["NOTHING_FOUND", "NO_ANSWER", "OTHER_LANGUAGE", "ExtractiveGenerator"]

NO_ANSWER = {
    "en": "The indexed documents do not seem to answer this question; the closest passages are "
    "listed below.",
    "zh": "已索引的文档中似乎没有这个问题的答案；下面列出了最接近的段落。",
}
NOTHING_FOUND = {
    "en": "The indexed documents do not answer this question.",
    "zh": "已索引的文档没有回答这个问题。",
}
OTHER_LANGUAGE = {
    "en": "The closest passages are in another language than the question; they are listed below.",
    "zh": "最接近的段落与问题的语言不同，列在下面。",
}

_TERMS = re.compile(rf"[{CJK_CHARS}]+|[^\W_{CJK_CHARS}]+")
_ENDS = tuple("。！？；.!?;:：…\"'”’)）")
_STOP = STOPWORDS["en"] | STOPWORDS["zh"]


@dataclass(frozen=True, slots=True)
class _Sentence:
    citation: int  # 1-based number of the hit it comes from
    text: str


class ExtractiveGenerator:
    """Picks up to `max_sentences` sentences that answer the question, best first."""

    def __init__(
        self,
        config: AnswerConfig,
        embedder: Embedder,
        languages: Collection[str] = ("*",),
        analyzer: Analyzer | None = None,
    ) -> None:
        self._config = config
        self._embedder = embedder
        self._languages = set(languages)
        self._analyzer = analyzer

    def generate(self, question: str, hits: Sequence[Hit]) -> Answer:
        started = time.perf_counter()
        citations = tuple(Citation(n, hit) for n, hit in enumerate(hits, 1))
        lang = "zh" if is_cjk(question) else "en"
        if not hits:
            return Answer(NOTHING_FOUND[lang], citations, no_context=True)
        candidates = [
            _Sentence(n, s.strip())
            for n, hit in enumerate(hits, 1)
            for s in split_sentences(hit.chunk.text)
            if _informative(s, _titles(hit))
        ]
        if not candidates:
            return Answer(NO_ANSWER[lang], citations, no_context=True)
        scores, passed = self._scores(question, candidates)
        chosen = self._choose(candidates, scores, passed)
        if not chosen:
            other = all(is_cjk(c.text) != (lang == "zh") for c in candidates)
            message = OTHER_LANGUAGE[lang] if other else NO_ANSWER[lang]
            return Answer(message, citations, no_context=True)
        text = _join([f"{c.text} [{c.citation}]" for c in chosen])
        elapsed = (time.perf_counter() - started) * 1000
        cited = tuple(sorted({c.citation for c in chosen}))
        return Answer(text, citations, timings_ms={"generate": elapsed}, cited=cited)

    def _scores(self, question: str, candidates: list[_Sentence]) -> tuple[np.ndarray, np.ndarray]:
        """Each sentence's score, and whether it clears its scorer's threshold: cosine where
        the embedder reads the question and the sentence, lexical overlap elsewhere."""
        scores = np.zeros(len(candidates))
        passed = np.zeros(len(candidates), dtype=bool)
        readable = [self._reads(question, c.text) for c in candidates]
        dense = [i for i, read in enumerate(readable) if read]
        lexical = [i for i, read in enumerate(readable) if not read]
        if dense:
            query = self._embedder.embed_query(question)
            vectors = self._embedder.embed_documents([candidates[i].text for i in dense])
            cosines = vectors @ query
            scores[dense] = cosines
            passed[dense] = cosines >= self._config.min_similarity
        if lexical:
            overlap = self._overlap(question)
            scores[lexical] = [overlap(candidates[i].text) for i in lexical]
            passed[lexical] = scores[lexical] >= self._config.min_overlap
        for group in (dense, lexical):  # within `min_share` of the best of its scorer
            if group:
                best = scores[group].max()
                passed[group] &= scores[group] >= self._config.min_share * best
        return scores, passed

    def _overlap(self, question: str) -> Callable[[str], float]:
        """A sentence's share of the question's terms: BM25 terms (jieba words for Chinese)
        or character bigrams, whichever is higher (the question analysed once)."""
        analyzer = self._analyzer
        asked = set(analyzer.terms(question)) if analyzer is not None else set()
        grams = _terms(question)

        def share(sentence: str) -> float:
            shares = [len(grams & _terms(sentence)) / len(grams)] if grams else []
            if asked and analyzer is not None:
                shares.append(len(asked & set(analyzer.terms(sentence))) / len(asked))
            return max(shares, default=0.0)

        return share

    def _reads(self, question: str, sentence: str) -> bool:
        return reads(self._languages, question) and reads(self._languages, sentence)

    def _choose(
        self, candidates: list[_Sentence], scores: np.ndarray, passed: np.ndarray
    ) -> list[_Sentence]:
        chosen: list[_Sentence] = []
        seen: set[str] = set()
        for index in np.argsort(-scores, kind="stable"):
            if len(chosen) >= self._config.max_sentences:
                break
            if not passed[index]:
                continue
            key = " ".join(candidates[index].text.lower().split())
            if key not in seen:
                seen.add(key)
                chosen.append(candidates[index])
        return chosen


def _titles(hit: Hit) -> set[str]:
    """The section titles of the hit's chunk, normalised (a heading repeats one)."""
    return {_normal(t) for t in hit.chunk.section.split(" > ") if t.strip()}


def _normal(text: str) -> str:
    return " ".join(text.strip("#*-•>|:—–=_ \t\r\n").lower().split())


def _informative(sentence: str, titles: set[str]) -> bool:
    """Skip headings, titles, list markers and fragments: they answer nothing on their
    own. A heading is one of the chunk's section titles, or a short line that does not end
    as a sentence does."""
    stripped = sentence.strip("#*-•>|:—–=_ \t\r\n")
    if not stripped or _normal(stripped) in titles:
        return False
    if is_cjk(stripped):
        return len(stripped) >= 6 and (len(stripped) >= 16 or stripped.endswith(_ENDS))
    words = len(stripped.split())
    return words >= 4 and (words >= 9 or stripped.endswith(_ENDS))


def _terms(text: str) -> set[str]:
    """Lexical terms for overlap: lower-cased words minus stop words, and the character
    bigrams (and single characters of one-character runs) of Chinese text."""
    out: set[str] = set()
    for run in _TERMS.findall(text.lower()):
        if is_cjk(run):
            chars = [c for c in run if c not in _STOP]
            out.update(a + b for a, b in zip(chars, chars[1:], strict=False))
            if len(chars) == 1:
                out.add(chars[0])
        elif run not in _STOP:
            out.add(run)
    return out


def _join(parts: list[str]) -> str:
    out = parts[0]
    for part in parts[1:]:
        out += ("" if is_cjk(out[-6:]) and is_cjk(part[:1]) else " ") + part
    return out
