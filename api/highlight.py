"""Which sentences of a cited passage the answer leans on: for each answer sentence
carrying `[n]`, the sentence of passage n that shares the most words (Chinese: character
pairs) with it. The web page marks them when the citation is opened.

Example:
    >>> passage = "Leave accrues monthly. Unused days carry over to March. Ask HR."
    >>> [passage[a:b] for a, b in cited_spans("Unused days carry over [1].", 1, passage)]
    ['Unused days carry over to March.']
"""

from __future__ import annotations

import re

from rag.generate.citations import MARKER, marker_numbers
from rag.text import CJK_CHARS, sentence_spans

__all__ = ["cited_spans"]

_WORD = re.compile(rf"[^\W{CJK_CHARS}]+")
_CJK_RUN = re.compile(f"[{CJK_CHARS}]+")
_LEADING = re.compile(rf"^(?:\s*{MARKER.pattern})+")
MIN_OVERLAP = 0.3  # share of the answer sentence's terms the passage sentence must hold


def _terms(text: str) -> set[str]:
    terms = {w.lower() for w in _WORD.findall(MARKER.sub(" ", text))}
    for run in _CJK_RUN.findall(text):
        terms.update(run[i : i + 2] for i in range(max(1, len(run) - 1)))
    return terms


def _claims(answer: str, n: int) -> list[set[str]]:
    """The terms of each answer sentence citing `n`. Markers that open a sentence span
    ("... full stop. [1] Next sentence") cite the sentence before them."""
    claims: list[set[str]] = []
    previous: set[str] = set()
    for a, b in sentence_spans(answer):
        sentence = answer[a:b]
        lead = _LEADING.match(sentence)
        head = lead.group(0) if lead else ""
        if previous and n in marker_numbers(head):
            claims.append(previous)
        terms = _terms(sentence)
        if terms and n in marker_numbers(sentence[len(head) :]):
            claims.append(terms)
        previous = terms or previous
    return claims


def cited_spans(answer: str, n: int, passage: str) -> list[tuple[int, int]]:
    """[start, end) of each passage sentence that best supports one of the answer's `[n]`
    claims (in passage order, each once); empty when the answer does not cite `n` or no
    passage sentence shares enough with a claim."""
    claims = _claims(answer, n)
    if not claims:  # an uncited source: its passage is not split
        return []
    spans = [(a, b, _terms(passage[a:b])) for a, b in sentence_spans(passage)]
    found: set[tuple[int, int]] = set()
    for claim in claims:
        best_share, best = MIN_OVERLAP - 1e-9, None
        for a, b, terms in spans:
            share = len(claim & terms) / len(claim)
            if share > best_share:
                best_share, best = share, (a, b)
        if best is not None:
            found.add(best)
    return sorted(found)
