"""Did the parser keep the file's text? A check of what came out against what went in, for
the formats whose text can be read without the parser (plain text, Markdown, RST, Org,
CSV/TSV), so that a parser that drops content does not do it silently.

Two findings, each a warning on the file's result (the file is still ingested):
- letters and digits missing: the parser's elements hold under `MIN_KEPT` of the letters
  and digits of the decoded file (markup such as `#`, `|` and `*` is not counted, so
  Markdown tables and headings do not count as loss, nor do link and image targets, URLs
  and tags, which parsers leave out by design);
- characters that could not be decoded: bytes that are not text in the detected encoding
  (U+FFFD replacement characters in the file's text or the parser's).

Example:
    >>> coverage_warning(Path("notes.csv"), elements)  # doctest: +SKIP
    'only 41% of the text was extracted (12,034 of 29,410 letters and digits); ...'
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from ingest.encoding import detect_encoding
from rag.types import Element

__all__ = ["CHECKED_SUFFIXES", "MIN_KEPT", "coverage_warning"]

CHECKED_SUFFIXES = frozenset({".txt", ".text", ".md", ".markdown", ".rst", ".org", ".csv", ".tsv"})
MIN_KEPT = 0.8
_MIN_LETTERS = 200  # below this a few dropped words would look like a large share


def coverage_warning(path: Path, elements: Sequence[Element]) -> str:
    """A warning when the elements hold much less text than `path`, or text the decoding
    garbled; "" when all is well or the format is not checked."""
    if path.suffix.lower() not in CHECKED_SUFFIXES:
        return ""
    data = path.read_bytes()
    source = data.decode(detect_encoding(data), "replace")
    extracted = "\n".join(e.text for e in elements)
    warnings = []
    have, want = _letters(extracted), _letters(_TARGETS.sub(" ", source))
    if want >= _MIN_LETTERS and have < MIN_KEPT * want:
        warnings.append(
            f"only {have / want:.0%} of the text was extracted ({have:,} of {want:,} letters "
            "and digits); the parser dropped the rest"
        )
    garbled = max(extracted.count("\ufffd"), source.count("\ufffd"))
    if garbled:
        warnings.append(f"{garbled:,} characters could not be decoded (shown as \ufffd)")
    return "; ".join(warnings)


# Link and image targets, URLs and tags: parsers keep the link text, not where it points.
_TARGETS = re.compile(r"\]\([^)]*\)|\bhttps?://\S+|<[^<>\n]{1,500}>")


def _letters(text: str) -> int:
    return sum(1 for c in text if c.isalnum())
