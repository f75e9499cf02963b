"""Checking `[n]` citation markers against the sources the model was given.

A marker is `[n]` or a list `[n, m]` / `[n][m]`; numbers outside 1..sources point nowhere
and are removed (and counted); the numbers that remain are the cited sources.

Example:
    >>> checked = check_citations("Twenty days [1][7], carried over [2, 9].", sources=2)
    >>> checked.text, checked.cited, checked.removed
    ('Twenty days [1], carried over [2].', (1, 2), 2)
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["MARKER", "CheckedCitations", "check_citations", "marker_numbers"]

MARKER = re.compile(r"\[(\s*\d+\s*(?:[,，、]\s*\d+\s*)*)\]")  # [1], [1, 2], [1，2]
_SEPARATOR = re.compile(r"[,，、]")


@dataclass(frozen=True, slots=True)
class CheckedCitations:
    """The text with only valid markers, the cited source numbers, and how many went."""

    text: str
    cited: tuple[int, ...]
    removed: int


def check_citations(text: str, sources: int) -> CheckedCitations:
    """Drop markers that point to no source; list the sources cited, in order of first use."""
    cited: list[int] = []
    removed = 0

    def keep(match: re.Match[str]) -> str:
        nonlocal removed
        numbers = _numbers(match)
        valid = [n for n in numbers if 1 <= n <= sources]
        removed += len(numbers) - len(valid)
        for n in valid:
            if n not in cited:
                cited.append(n)
        return f"[{', '.join(str(n) for n in valid)}]" if valid else ""

    cleaned = MARKER.sub(keep, text)
    cleaned = re.sub(r"[ \t]+([.,;:!?。，；：！？])", r"\1", cleaned) if removed else cleaned
    return CheckedCitations(cleaned, tuple(cited), removed)


def marker_numbers(text: str) -> list[int]:
    """The source numbers of every marker in `text`, in order (repeats kept)."""
    return [n for match in MARKER.finditer(text) for n in _numbers(match)]


def _numbers(match: re.Match[str]) -> list[int]:
    return [int(n) for n in _SEPARATOR.split(match.group(1))]
