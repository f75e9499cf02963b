"""Counting tokens as the answering model counts them, to keep a prompt within its window.

With `generator.tokenizer` set (the fine-tuned model's folder, or a hub id already in the
local cache), the model's own tokenizer counts. Without it, a safe estimate: 1.5 tokens per
CJK character, one per digit (LLaMA splits numbers into digits), one per 3 other characters.
The tokenizers of the models our users serve (LLaMA 2/3, Qwen 2.5, Mistral, ChatGLM) give
fewer on prose, so a prompt packed by the estimate fits; a tiny or unusual vocabulary needs
`generator.tokenizer`.

Example:
    >>> counter = EstimatedCounter()
    >>> counter.count(["annual leave", "年假二十天", "in 2024"])
    [4, 8, 5]
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from rag.errors import ConfigError
from rag.text import CJK_CHARS

__all__ = [
    "MESSAGE_OVERHEAD",
    "EstimatedCounter",
    "ModelTokenCounter",
    "TokenCounter",
    "create_counter",
    "prompt_tokens",
]

MESSAGE_OVERHEAD = 8  # role markers and separators a chat template adds per message
_CJK = re.compile(f"[{CJK_CHARS}]")


class TokenCounter(Protocol):
    """Counts tokens of texts."""

    def count(self, texts: Sequence[str]) -> list[int]:
        """Tokens in each text, special tokens excluded."""
        ...


class EstimatedCounter:
    """An upper estimate for tokenizers we cannot load."""

    def count(self, texts: Sequence[str]) -> list[int]:
        out = []
        for text in texts:
            cjk = len(_CJK.findall(text))
            digits = sum(ch.isdigit() for ch in text)
            out.append(math.ceil(cjk * 1.5 + digits + (len(text) - cjk - digits) / 3))
        return out


class ModelTokenCounter:
    """The model's own tokenizer (`transformers.AutoTokenizer`), loaded from a folder."""

    def __init__(self, tokenizer: Any) -> None:
        self._tokenizer = tokenizer

    @classmethod
    def load(cls, where: str) -> ModelTokenCounter:
        """The tokenizer in folder `where`, or of hub id `where` when it is cached locally.

        Raises:
            ConfigError: No tokenizer could be loaded from there.
        """
        from transformers import AutoTokenizer

        path = Path(where).expanduser()
        try:
            tokenizer = AutoTokenizer.from_pretrained(
                str(path) if path.exists() else where, local_files_only=not path.exists()
            )
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"could not load a tokenizer from {where!r} ({exc}); set generator.tokenizer "
                "to the folder of the model you serve (it holds tokenizer.json or "
                "tokenizer.model), or leave it unset for a safe estimate"
            ) from exc
        return cls(tokenizer)

    def count(self, texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        ids = self._tokenizer(list(texts), add_special_tokens=False)["input_ids"]
        return [len(i) for i in ids]


def create_counter(tokenizer: str | None) -> TokenCounter:
    """The model's tokenizer when `tokenizer` names one, else the safe estimate."""
    return ModelTokenCounter.load(tokenizer) if tokenizer else EstimatedCounter()


def prompt_tokens(counter: TokenCounter, messages: Sequence[dict[str, str]]) -> int:
    """Tokens of a chat prompt: its messages plus what the chat template adds."""
    counts = counter.count([m["content"] for m in messages])
    return sum(counts) + MESSAGE_OVERHEAD * (len(messages) + 1)
