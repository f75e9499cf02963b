"""Document summaries for the two-level index: extractive (default) or written by the model.

`extractive`: the summary vector is the normalised mean of the document's chunk vectors (no
extra model call); the text, indexed for BM25 and shown by `--explain`, carries what tells the
document apart: its title, its section headings, its key terms (the content words it uses
most: BM25 weighs them by rarity when a question names them), then the leading sentences of
the chunks most central to the document (closest to that mean), up to `max_chars`.

`llm`: the generation model (`[generator]`) writes the summary from the title and the
document's leading text (`llm_input_chars`); the summary text is embedded for the vector.
Summaries are cached by a hash of the model's name, the prompt and the text, in
`<data_dir>/summaries.sqlite`, so re-ingesting or re-indexing an unchanged document costs no
call. A model that fails gives the extractive summary, with a warning.

Example:
    >>> summary = extractive_summary("Handbook", chunks, vectors, max_chars=600)  # doctest: +SKIP
    >>> summary.text[:40]  # doctest: +SKIP
    'Handbook\\nEmployees receive 20 days of pa'
"""

from __future__ import annotations

import hashlib
import logging
import re
import sqlite3
from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from rag.config import RagConfig, SummaryConfig
from rag.errors import ConfigError, GenerationError
from rag.text import CJK_CHARS, is_cjk, split_sentences
from rag.types import Chunk

if TYPE_CHECKING:
    from rag.embed.base import Embedder
    from rag.generate.base import ChatBackend
    from rag.generate.tokens import TokenCounter

__all__ = [
    "SUMMARIZERS",
    "ExtractiveSummarizer",
    "LLMSummarizer",
    "Summarizer",
    "Summary",
    "SummaryCache",
    "create_summarizer",
    "extractive_summary",
    "summary_id",
]

logger = logging.getLogger(__name__)

_SENTENCES_PER_CHUNK = 2


@dataclass(frozen=True, slots=True)
class Summary:
    """A document's summary text and vector."""

    text: str
    vector: np.ndarray


def summary_id(doc_id: str, version: str) -> str:
    """Store id of a document version's summary."""
    return hashlib.sha256(f"summary\x00{doc_id}\x00{version}".encode()).hexdigest()


def extractive_summary(
    title: str, chunks: Sequence[Chunk], vectors: np.ndarray, max_chars: int
) -> Summary:
    """Title, section headings, key terms, then the leading sentences of the most central
    chunks; the mean vector."""
    centre = vectors.mean(axis=0)
    norm = float(np.linalg.norm(centre))
    centre = centre / norm if norm > 0 else centre
    order = np.argsort(-(vectors @ centre), kind="stable")
    parts = [title] if title else []
    for line in (_headings(title, chunks), _key_terms(title, chunks)):
        if line and len("\n".join([*parts, line])) <= max_chars // 2:
            parts.append(line)
    used = len("\n".join(parts))
    for i in order:
        for sentence in split_sentences(chunks[int(i)].text)[:_SENTENCES_PER_CHUNK]:
            if sentence == title or used + len(sentence) > max_chars:
                continue
            parts.append(sentence)
            used += len(sentence) + 1
    return Summary("\n".join(parts), centre.astype(np.float32))


def _headings(title: str, chunks: Sequence[Chunk]) -> str:
    """The document's section headings, each once, in order (the title left out)."""
    seen = dict.fromkeys(
        h.strip() for c in chunks for h in c.section.split(" > ") if h.strip() and h != title
    )
    return "; ".join(seen)


_WORDS = re.compile(rf"[{CJK_CHARS}]+|[^\W\d_]{{3,}}")


def _key_terms(title: str, chunks: Sequence[Chunk]) -> str:
    """The content words the document uses most (KEY_TERMS of them, those already in the
    title left out): English words of 3+ letters and jieba words of 2+ characters, stop
    words dropped."""
    from rag.lexical.analyzer import jieba_tokenizer
    from rag.lexical.stopwords import STOPWORDS

    stop = STOPWORDS["en"] | STOPWORDS["zh"]
    counts: Counter[str] = Counter()
    for chunk in chunks:
        for run in _WORDS.findall(chunk.text):
            if is_cjk(run):
                words = [w for w in jieba_tokenizer().cut(run) if len(w) >= 2]
            else:
                words = [run.lower()]
            counts.update(w for w in words if w not in stop)
    in_title = {w.lower() for w in _WORDS.findall(title)}
    ranked = [w for w, n in counts.most_common() if n > 1 and w not in in_title]
    return ", ".join(ranked[:KEY_TERMS])


KEY_TERMS = 12


class Summarizer(Protocol):
    """Writes one document's summary."""

    def summarize(self, title: str, chunks: Sequence[Chunk], vectors: np.ndarray) -> Summary:
        """The summary of the document made of `chunks` (with their vectors)."""
        ...


class ExtractiveSummarizer:
    """`extractive_summary`, no model."""

    def __init__(self, config: SummaryConfig) -> None:
        self._max_chars = config.max_chars

    def summarize(self, title: str, chunks: Sequence[Chunk], vectors: np.ndarray) -> Summary:
        return extractive_summary(title, chunks, vectors, self._max_chars)


_PROMPTS = {
    "en": (
        "Summarise the document below in at most five sentences for a search index: what it "
        "is about, and which questions it answers. Reply with the summary only.\n\n"
        "Title: {title}\n\n{text}"
    ),
    "zh": (
        "请用不超过五句话概括下面的文档，用于检索索引：说明它讲什么、能回答哪些问题。只回复摘要。\n\n"
        "标题：{title}\n\n{text}"
    ),
}


class SummaryCache:
    """Summary texts by content hash, in one SQLite file (a connection per call: a model
    call per miss dwarfs it)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self.hits = self.misses = 0

    def _connect(self) -> sqlite3.Connection:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self._path)
        db.execute("CREATE TABLE IF NOT EXISTS summaries (key TEXT PRIMARY KEY, text TEXT)")
        return db

    def get(self, key: str) -> str | None:
        with closing(self._connect()) as db:
            row = db.execute("SELECT text FROM summaries WHERE key = ?", (key,)).fetchone()
        if row is None:
            self.misses += 1
            return None
        self.hits += 1
        return str(row[0])

    def put(self, key: str, text: str) -> None:
        with closing(self._connect()) as db, db:
            db.execute("INSERT OR REPLACE INTO summaries VALUES (?, ?)", (key, text))


class LLMSummarizer:
    """The generation model's summary of the document's leading text, cached."""

    def __init__(
        self,
        config: SummaryConfig,
        backend: ChatBackend,
        embedder: Embedder,
        cache: SummaryCache,
        counter: TokenCounter,
        context_window: int,
        model: str,
        warn: Callable[[str], None] = logger.warning,
    ) -> None:
        self._config_model = model  # the cache key's model part: not the server's address
        self._config, self._backend, self._embedder = config, backend, embedder
        self._cache, self._counter, self._window, self._warn = cache, counter, context_window, warn
        self._fallback = ExtractiveSummarizer(config)

    def _prompt(self, title: str, text: str) -> str:
        """The prompt, with the text cut so that prompt and summary fit the window."""
        template = _PROMPTS["zh" if is_cjk(text) else "en"]
        room = self._window - self._config.llm_max_tokens - 2 * MESSAGE_OVERHEAD
        while True:
            prompt = template.format(title=title, text=text)
            tokens = self._counter.count([prompt])[0]
            if tokens <= room or not text:
                return prompt
            text = text[: int(len(text) * min(0.95, room / tokens))]

    def summarize(self, title: str, chunks: Sequence[Chunk], vectors: np.ndarray) -> Summary:
        text = ""
        for chunk in chunks:
            if len(text) >= self._config.llm_input_chars:
                break
            text += chunk.text + "\n"
        prompt = self._prompt(title, text[: self._config.llm_input_chars])
        key = hashlib.sha256(f"{self._config_model}\x00{prompt}".encode()).hexdigest()
        summary = self._cache.get(key)
        if summary is None:
            try:
                summary = self._backend.complete(
                    prompt, max_tokens=self._config.llm_max_tokens, timeout_s=self._config.timeout_s
                )
            except GenerationError as exc:
                self._warn(
                    f"the model could not summarise {title or chunks[0].source!r} ({exc}); "
                    "extractive summary instead"
                )
                return self._fallback.summarize(title, chunks, vectors)
            summary = summary.strip()
            if not summary:
                return self._fallback.summarize(title, chunks, vectors)
            self._cache.put(key, summary)
        return Summary(summary, self._embedder.embed_documents([summary])[0].astype(np.float32))


MESSAGE_OVERHEAD = 8  # as rag.generate.tokens counts a chat message's template tokens


def _llm(
    config: RagConfig,
    embedder: Embedder,
    backend: ChatBackend | None,
    counter: TokenCounter | None,
) -> Summarizer:
    from rag.generate.tokens import EstimatedCounter

    if backend is None:
        raise ConfigError(
            "summary.method = llm needs a generation model: set generator.backend, "
            "generator.base_url and generator.model, or summary.method = extractive"
        )
    cache = SummaryCache(config.data_dir / "summaries.sqlite")
    window = config.generator.context_window
    model = f"{config.generator.backend}:{config.generator.model}"
    counter = counter or EstimatedCounter()
    return LLMSummarizer(config.summary, backend, embedder, cache, counter, window, model)


SummarizerFactory = Callable[
    [RagConfig, "Embedder", "ChatBackend | None", "TokenCounter | None"], Summarizer
]

SUMMARIZERS: dict[str, SummarizerFactory] = {
    "extractive": lambda config, embedder, backend, counter: ExtractiveSummarizer(config.summary),
    "llm": _llm,
}


def create_summarizer(
    config: RagConfig,
    embedder: Embedder,
    backend: ChatBackend | None = None,
    counter: TokenCounter | None = None,
) -> Summarizer:
    """The summarizer named by `config.summary.method`; `llm` writes with `backend`."""
    from rag.registry import build

    return build(
        SUMMARIZERS, "summary.method", config.summary.method, config, embedder, backend, counter
    )
