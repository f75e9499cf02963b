"""Answer generators: the extractive answer (no model), or a served model by backend."""

from __future__ import annotations

from collections.abc import Callable

from rag.config import GeneratorConfig
from rag.generate.base import ChatBackend, Generator
from rag.generate.tokens import EstimatedCounter, TokenCounter
from rag.registry import build

__all__ = ["BACKENDS", "ChatBackend", "Generator", "create_backend"]


def _openai(config: GeneratorConfig, counter: TokenCounter) -> ChatBackend:
    from rag.generate.openai_backend import OpenAIBackend

    return OpenAIBackend(config)


def _ollama(config: GeneratorConfig, counter: TokenCounter) -> ChatBackend:
    from rag.generate.ollama_backend import OllamaBackend

    return OllamaBackend(config, counter)


BACKENDS: dict[str, Callable[[GeneratorConfig, TokenCounter], ChatBackend | None]] = {
    "none": lambda config, counter: None,
    "openai": _openai,
    "ollama": _ollama,
}


def create_backend(
    config: GeneratorConfig, counter: TokenCounter | None = None
) -> ChatBackend | None:
    """The chat backend named by `config.backend`; None for `none` (extractive answers).
    `counter` counts prompt tokens (Ollama sizes `num_ctx` with it); the safe estimate
    when None."""
    return build(
        BACKENDS, "generator.backend", config.backend, config, counter or EstimatedCounter()
    )
