"""Text -> index terms for BM25, Chinese and English in one pass.

Text is cut into runs: a run of CJK ideographs is written in Simplified characters first
(OpenCC t2s, `lexical.traditional = "simplify"`: jieba's dictionary is Simplified, so 資訊安全
is cut as 资讯 安全 and matches a question in either script), then goes to `jieba` (search
mode by default, which also emits the shorter words inside long ones, so 中华人民共和国 matches
人民); any other run of
letters and digits is lower-cased, filtered by stop words and stemmed (Snowball, PyStemmer).
Queries and documents go through the same analyzer.

Example:
    >>> analyzer = Analyzer(LexicalConfig())
    >>> analyzer.terms("Vitamin D deficiency 与骨质疏松的关系")  # doctest: +SKIP
    ['vitamin', 'd', 'defici', '骨质', '疏松', '骨质疏松', '关系']
"""

from __future__ import annotations

import functools
import logging
import re
import threading
from collections.abc import Callable, Iterable
from typing import Any

from rag.config import LexicalConfig
from rag.errors import ConfigError
from rag.lexical.stopwords import STOPWORDS
from rag.paths import cache_root
from rag.text import CJK_CHARS
from rag.types import Chunk

__all__ = [
    "Analyzer",
    "contextual_text",
    "jieba_tokenizer",
    "simplified_converter",
    "warm_up_chinese",
]

_RUNS = re.compile(rf"([{CJK_CHARS}]+)|([^\W_{CJK_CHARS}]+)")


class Analyzer:
    """Turns text into BM25 terms; cheap to build, loads jieba on the first Chinese text."""

    def __init__(self, config: LexicalConfig) -> None:
        unknown = sorted(set(config.stopwords) - set(STOPWORDS))
        if unknown:
            raise ConfigError(
                f"lexical.stopwords names unknown lists {unknown}; choose from {sorted(STOPWORDS)}"
            )
        self._config = config
        self._stop: frozenset[str] = frozenset().union(*(STOPWORDS[s] for s in config.stopwords))
        self._stem: Callable[[list[str]], list[str]] | None = None
        self._cut: Callable[[str], Iterable[str]] | None = None
        self._simplify: Callable[[str], str] | None = None
        if config.stemmer != "none":
            self._stem = _stemmer(config.stemmer)

    def terms(self, text: str) -> list[str]:
        """The index terms of `text`, in order, repeats kept (they count as term frequency)."""
        out: list[str] = []
        words: list[str] = []
        lower = self._config.lowercase
        for cjk, word in _RUNS.findall(text):
            if cjk:
                if words:
                    out += self._words(words)
                    words = []
                out += [t for t in self._segment(cjk) if t not in self._stop]
            else:
                words.append(word.lower() if lower else word)
        if words:
            out += self._words(words)
        return out

    def _words(self, words: list[str]) -> list[str]:
        kept = [w for w in words if w not in self._stop]
        return self._stem(kept) if self._stem is not None else kept

    def _segment(self, run: str) -> Iterable[str]:
        if self._config.traditional == "simplify":
            if self._simplify is None:
                self._simplify = simplified_converter()
            run = self._simplify(run)
        if self._config.chinese == "chars":
            return list(run)
        if self._cut is None:
            self._cut = _jieba(search=self._config.chinese == "jieba_search")
        return self._cut(run)


def _stemmer(language: str) -> Callable[[list[str]], list[str]]:
    import Stemmer

    try:
        stemmer: Any = Stemmer.Stemmer(language)
    except KeyError:
        raise ConfigError(
            f"lexical.stemmer {language!r} is not a Snowball language; choose from "
            f"{sorted(Stemmer.algorithms())} or 'none'"
        ) from None
    return stemmer.stemWords  # type: ignore[no-any-return]


def _jieba(*, search: bool) -> Callable[[str], Iterable[str]]:
    tokenizer = jieba_tokenizer()
    return tokenizer.cut_for_search if search else tokenizer.cut


_JIEBA_LOCK = threading.Lock()


@functools.cache
def _loaded_jieba() -> Any:
    import jieba

    jieba.setLogLevel(logging.WARNING)
    tokenizer = jieba.Tokenizer()
    # jieba keeps its parsed dictionary (9 MB) in TMPDIR by default; ours is kept with the
    # framework's other caches.
    folder = cache_root() / "jieba"
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer.tmp_dir = str(folder)
    tokenizer.initialize()
    return tokenizer


@functools.cache
def simplified_converter() -> Callable[[str], str]:
    """OpenCC's Traditional -> Simplified character conversion (t2s: characters only, no
    phrase rewriting, so a term keeps its meaning); loaded once per process."""
    import opencc

    return opencc.OpenCC("t2s").convert  # type: ignore[no-any-return]


def jieba_tokenizer() -> Any:
    """jieba's tokenizer with its dictionary loaded: once per process (about 0.7 s), shared
    by every analyzer, since the dictionary is only read after loading."""
    with _JIEBA_LOCK:
        return _loaded_jieba()


def warm_up_chinese() -> threading.Thread:
    """Load jieba's dictionary on a background thread (a command that will search Chinese
    text starts it before loading its model, so the two loads overlap)."""
    thread = threading.Thread(target=jieba_tokenizer, name="jieba-warm-up", daemon=True)
    thread.start()
    return thread


def contextual_text(chunk: Chunk) -> str:
    """The chunk's text headed by its section path, unless the text already starts with its
    own title (the first chunk of a section): a later chunk keeps the title's words."""
    if not chunk.section:
        return chunk.text
    titles = chunk.section.split(" > ")
    if chunk.text.startswith(titles[-1]):
        titles = titles[:-1]
    return "\n".join([" > ".join(titles), chunk.text]) if titles else chunk.text
