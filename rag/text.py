"""Sentence boundaries for Chinese and English text."""

from __future__ import annotations

import re

__all__ = ["CJK_CHARS", "is_cjk", "sentence_spans", "split_sentences"]

# CJK Unified Ideographs (+ Extension A, compatibility ideographs), for regex character classes.
CJK_CHARS = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"

# A boundary is: Chinese/full-width or ASCII terminators (。！？；!?;), or one or more dots
# followed by whitespace (so "3.14" and "e.g.x" stay whole), each with any closing quotes or
# brackets, or a line break.
_BOUNDARY = re.compile(
    r"[。！？；!?;…]+[”’」』）)\]\"']*"
    r"|\.+[”’」』）)\]\"']*(?=\s|$)"
    r"|\n"
)
_CJK = re.compile(f"[{CJK_CHARS}]")


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of the sentences of `text`, whitespace trimmed, empty ones dropped.

    Example:
        >>> text = "今天下雨。明天呢？Fine. OK"
        >>> [text[a:b] for a, b in sentence_spans(text)]
        ['今天下雨。', '明天呢？', 'Fine.', 'OK']
    """
    spans: list[tuple[int, int]] = []
    start = 0
    for match in _BOUNDARY.finditer(text):
        spans.append((start, match.end()))
        start = match.end()
    spans.append((start, len(text)))
    out = []
    for a, b in spans:
        while a < b and text[a].isspace():
            a += 1
        while b > a and text[b - 1].isspace():
            b -= 1
        if b > a:
            out.append((a, b))
    return out


def split_sentences(text: str) -> list[str]:
    """The sentences of `text` (see `sentence_spans`)."""
    return [text[a:b] for a, b in sentence_spans(text)]


def is_cjk(text: str) -> bool:
    """True when at least a fifth of the non-space characters are Chinese."""
    chars = [c for c in text if not c.isspace()]
    if not chars:
        return False
    return sum(1 for c in chars if _CJK.match(c)) * 5 >= len(chars)
