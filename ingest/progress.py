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

    def chunks(self, embedded: int, found: int, note: str = "") -> None:
        """Chunks embedded so far, of those found so far; `note`: the file they come from
        (called from the ingest's writer thread)."""
        ...


class NoProgress:
    """Reports nothing."""

    def start(self, total: int, label: str) -> None:
        return None

    def advance(self, steps: int = 1, note: str = "") -> None:
        return None

    def chunks(self, embedded: int, found: int, note: str = "") -> None:
        return None
