"""Reading JSON-lines files: one object per line, blank lines skipped.

Each caller decides what a bad line means (ingestion reports it and goes on, an evaluation
set refuses the file, the sources log counts it as torn); the reading is done once, here.

Example:
    >>> from pathlib import Path
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "rows.jsonl"
    >>> _ = path.write_text('{"_id": "a"}\\n\\n[1]\\nnot json\\n', encoding="utf-8")
    >>> [(n, row if isinstance(row, dict) else type(row).__name__) for n, row in objects(path)]
    [(1, {'_id': 'a'}), (3, 'ValueError'), (4, 'ValueError')]
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["objects"]


def objects(
    path: Path, errors: str = "strict"
) -> Iterator[tuple[int, dict[str, Any] | ValueError]]:
    """Each non-blank line's number (from 1) and its JSON object, or the `ValueError` saying
    why that line is not one. `errors` is how undecodable bytes are handled ("replace" for a
    log that may be torn).

    Raises:
        OSError: The file cannot be opened.
        UnicodeDecodeError: A line is not UTF-8 (with `errors="strict"`).
    """
    with path.open(encoding="utf-8", errors=errors) as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as exc:
                yield number, ValueError(f"not JSON ({exc})")
                continue
            if isinstance(row, dict):
                yield number, row
            else:
                yield number, ValueError("not a JSON object")
