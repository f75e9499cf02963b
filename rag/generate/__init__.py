"""Answer generators: the extractive answer (no model), or a served model by backend."""

from __future__ import annotations

from collections.abc import Callable

from rag.config import GeneratorConfig
from rag.generate.base import Generator
from rag.generate.llm import ChatBackend
from rag.registry import build

__all__ = ["BACKENDS", "ChatBackend", "Generator", "create_backend"]


def _openai(config: GeneratorConfig) -> ChatBackend:
    from rag.generate.openai_backend import OpenAIBackend

    return OpenAIBackend(config)


BACKENDS: dict[str, Callable[[GeneratorConfig], ChatBackend | None]] = {
    "none": lambda config: None,
    "openai": _openai,
}


def create_backend(config: GeneratorConfig) -> ChatBackend | None:
    """The chat backend named by `config.backend`; None for `none` (extractive answers)."""
    return build(BACKENDS, "generator.backend", config.backend, config)
