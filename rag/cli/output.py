"""Where the `rag` command writes: stdout for results, stderr for progress and problems."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

__all__ = ["Bar", "err", "error", "out", "progress", "warn"]

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def error(message: str, label: str = "error") -> None:
    """`label: message` on stderr; the message is shown as written (no markup)."""
    err.print(f"[bold red]{label}:[/] {escape(message)}")


def warn(message: str) -> None:
    """`warning: message` on stderr."""
    err.print(f"[yellow]warning:[/] {escape(message)}")


def progress(quiet: bool) -> Progress:
    """A progress display on stderr (none with `quiet`)."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=quiet,
    )


class Bar:
    """`ingest.progress.Progress` drawn with rich on stderr."""

    def __init__(self, display: Progress) -> None:
        self._display = display
        self._task: Any = None

    def start(self, total: int, label: str) -> None:
        self._task = self._display.add_task(label, total=total)

    def advance(self, steps: int = 1, note: str = "") -> None:
        self._display.update(self._task, advance=steps, description=note[-60:] or None)
