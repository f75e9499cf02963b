"""Loaders, chosen by `parser.loader`."""

from __future__ import annotations

from collections.abc import Callable

from ingest.loaders.base import Loader
from rag.config import ParserConfig
from rag.registry import build

__all__ = ["REGISTRY", "Loader", "create_loader"]


def _unstructured(config: ParserConfig) -> Loader:
    from ingest.loaders.unstructured import UnstructuredLoader

    return UnstructuredLoader(config)


REGISTRY: dict[str, Callable[[ParserConfig], Loader]] = {"unstructured": _unstructured}


def create_loader(config: ParserConfig) -> Loader:
    """Build the loader named by `config.loader`."""
    return build(REGISTRY, "parser.loader", config.loader, config)
