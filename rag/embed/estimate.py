"""A safe token estimate for a served embedding model whose tokenizer is not at hand.

One token per CJK character, digit or punctuation mark, and one per 3 letters of a word:
the WordPiece, SentencePiece and BPE vocabularies of the embedding models users serve
(nomic-embed-text, bge-m3, multilingual-e5, gte) give no more than that on prose, so a chunk
cut by the estimate fits the model's input. `embedder.tokenizer` gives exact counts instead.

Example:
    >>> tokenizer = EstimatedTokenizer(510)
    >>> tokenizer.count(["annual leave", "年假二十天", "in 2024"])
    [4, 5, 5]
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from rag.text import CJK_CHARS

__all__ = ["EstimatedTokenizer"]

_PIECE = re.compile(rf"[{CJK_CHARS}]|\d|[^\W\d_{CJK_CHARS}]{{1,3}}|[^\w\s]|_")


class EstimatedTokenizer:
    """The `Tokenizer` protocol by estimate (see the module)."""

    def __init__(self, max_tokens: int) -> None:
        self._max_tokens = max_tokens

    @property
    def max_tokens(self) -> int:
        return self._max_tokens

    def count(self, texts: Sequence[str]) -> list[int]:
        return [sum(1 for _ in _PIECE.finditer(text)) for text in texts]

    def offsets(self, text: str) -> list[tuple[int, int]]:
        return [m.span() for m in _PIECE.finditer(text)]
