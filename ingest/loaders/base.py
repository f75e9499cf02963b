"""The loader contract: one file in, its elements out."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from rag.types import Element

__all__ = ["Loader"]


class Loader(Protocol):
    """Parses one file. Raises an `IngestError` subclass with a one-line reason on failure."""

    def warm_up(self) -> None:
        """Import parsers and load their models; safe to call twice."""
        ...

    def load(self, path: Path) -> list[Element]:
        """The file's text elements in reading order, with page and section."""
        ...
