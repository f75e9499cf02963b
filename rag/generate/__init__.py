"""Answer generators. Issue 5 adds model backends (`openai`, `ollama`) to this package."""

from __future__ import annotations

from rag.generate.base import Generator

__all__ = ["Generator"]
