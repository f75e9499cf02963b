"""The generator contract: a question and retrieved hits in, a cited answer out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from rag.types import Answer, Hit

__all__ = ["Generator"]


class Generator(Protocol):
    """Writes an answer from numbered sources; cites them as `[n]` (n = position + 1)."""

    def generate(self, question: str, hits: Sequence[Hit]) -> Answer:
        """Answer `question` from `hits` only."""
        ...
