"""The generation contracts: a served chat model (`ChatBackend`) and an answer writer
(`Generator`), with what every backend shares.

Nothing here imports a backend or a synthesis strategy, so every module of `rag.generate`
can depend on this one without a cycle.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from rag.config import GenerationParams, GeneratorConfig, derive
from rag.types import Answer, Hit

__all__ = [
    "REPLY_ALLOWANCE",
    "RETRY_STATUS",
    "ChatBackend",
    "Generator",
    "ServedModel",
    "Warn",
]

logger = logging.getLogger(__name__)

RETRY_STATUS = frozenset({429, 502, 503, 504})  # overloaded or restarting: worth a retry
REPLY_ALLOWANCE = 512  # answer tokens assumed when max_tokens is unset

Warn = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class ServedModel:
    """A model a server lists; `detail` says what it is (e.g. a LoRA adapter's base)."""

    name: str
    detail: str = ""


class ChatBackend(Protocol):
    """A served chat model. Backends subclass this protocol to inherit `complete`."""

    name: str
    config: GeneratorConfig

    def stream(
        self,
        messages: Sequence[Mapping[str, str]],
        params: GenerationParams,
        warn: Warn | None = None,
        read_timeout_s: float | None = None,
    ) -> Iterator[str]:
        """The reply, piece by piece; `warn` hears what the user should know (a prompt
        that does not fit, an answer cut at max_tokens)."""
        ...

    def models(self) -> list[ServedModel]:
        """The models the server lists."""
        ...

    def context_length(self, model: str) -> int | None:
        """The model's context window in tokens, when the server tells."""
        ...

    @property
    def breaker_open(self) -> bool:
        """Whether the circuit breaker refuses calls now (the server failed repeatedly)."""
        breaker = getattr(self, "_breaker", None)
        return bool(breaker is not None and breaker.is_open)

    def complete(self, prompt: str, *, max_tokens: int, timeout_s: float) -> str:
        """One user message in, the whole reply out (query rewriting, summaries)."""
        params = derive(self.config.params, max_tokens=max_tokens)
        messages = [{"role": "user", "content": prompt}]
        # A rewrite or a summary cut at max_tokens is expected: no warning.
        pieces = self.stream(messages, params, logger.debug, read_timeout_s=timeout_s)
        return "".join(pieces).strip()


class Generator(Protocol):
    """Writes an answer from numbered sources; cites them as `[n]` (n = position + 1)."""

    def generate(self, question: str, hits: Sequence[Hit]) -> Answer:
        """Answer `question` from `hits` only."""
        ...
