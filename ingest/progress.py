"""Progress reporting hook: the library reports, the CLI draws (no output in library code)."""

from __future__ import annotations

from typing import Protocol

__all__ = ["NoProgress", "Progress"]


class Progress(Protocol):
    """Receives progress of long work."""

    def start(self, total: int, label: str) -> None:
        """A phase with `total` steps begins."""
        ...

    def advance(self, steps: int = 1, note: str = "") -> None:
        """`steps` more are done; `note` says what was just finished."""
        ...


class NoProgress:
    """Reports nothing."""

    def start(self, total: int, label: str) -> None:
        return None

    def advance(self, steps: int = 1, note: str = "") -> None:
        return None
