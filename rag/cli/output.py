"""Where the `rag` command writes: stdout for results, stderr for progress and problems."""

from __future__ import annotations

import unicodedata
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

__all__ = ["Bar", "err", "error", "out", "progress", "safe", "warn"]

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def safe(text: str, newlines: bool = False) -> str:
    """`text` with every control and format character (escape sequences, carriage returns,
    bidirectional overrides) shown as an escape, so a file name cannot drive the terminal;
    line breaks kept with `newlines`."""
    if text.isprintable():
        return text
    return "".join(
        ch
        if ch == " " or (newlines and ch == "\n") or unicodedata.category(ch)[0] not in "CZ"
        else _escaped(ch)
        for ch in text
    )


def _escaped(ch: str) -> str:
    if unicodedata.category(ch) == "Zs":
        return ch  # other spaces (ideographic, no-break) are printable text
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def error(message: str, label: str = "error") -> None:
    """`label: message` on stderr; the message is shown as written (no markup)."""
    err.print(f"[bold red]{label}:[/] {escape(safe(message, newlines=True))}")


def warn(message: str) -> None:
    """`warning: message` on stderr."""
    err.print(f"[yellow]warning:[/] {escape(safe(message, newlines=True))}")


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
        self._chunks: Any = None

    def start(self, total: int, label: str) -> None:
        self._task = self._display.add_task(label, total=total)

    def advance(self, steps: int = 1, note: str = "") -> None:
        shown = escape(safe(note)[-60:]) if note else None  # descriptions are rich markup
        self._display.update(self._task, advance=steps, description=shown)

    def chunks(self, embedded: int, found: int, note: str = "") -> None:
        """A second bar: chunks embedded of those found, naming the file in work."""
        shown = "embedding " + escape(safe(note)[-50:]) if note else "embedding"
        if self._chunks is None:
            self._chunks = self._display.add_task(shown, total=found)
        self._display.update(self._chunks, completed=embedded, total=found, description=shown)
