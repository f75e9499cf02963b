"""Document summaries for the two-level index, made without a language model.

The summary vector is the normalised mean of the document's chunk vectors (no extra model
call). The summary text, indexed for BM25 and shown by `--explain`, is the title followed by
the leading sentences of the chunks most central to the document (closest to that mean,
as the embedder sees them), up to `max_chars`. An LLM summary replaces the text when a
generation model is configured (the generation issue).

Example:
    >>> summary = extractive_summary("Handbook", chunks, vectors, max_chars=600)  # doctest: +SKIP
    >>> summary.text[:40]  # doctest: +SKIP
    'Handbook\\nEmployees receive 20 days of pa'
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rag.text import split_sentences
from rag.types import Chunk

__all__ = ["Summary", "extractive_summary", "summary_id"]

_SENTENCES_PER_CHUNK = 2


@dataclass(frozen=True, slots=True)
class Summary:
    """A document's summary text and vector."""

    text: str
    vector: np.ndarray


def summary_id(doc_id: str, version: str) -> str:
    """Store id of a document version's summary."""
    return hashlib.sha256(f"summary\x00{doc_id}\x00{version}".encode()).hexdigest()


def extractive_summary(
    title: str, chunks: Sequence[Chunk], vectors: np.ndarray, max_chars: int
) -> Summary:
    """Title plus the leading sentences of the most central chunks; the mean vector."""
    centre = vectors.mean(axis=0)
    norm = float(np.linalg.norm(centre))
    centre = centre / norm if norm > 0 else centre
    order = np.argsort(-(vectors @ centre), kind="stable")
    parts = [title] if title else []
    used = len(title)
    for i in order:
        for sentence in split_sentences(chunks[int(i)].text)[:_SENTENCES_PER_CHUNK]:
            if sentence == title or used + len(sentence) > max_chars:
                continue
            parts.append(sentence)
            used += len(sentence) + 1
    return Summary("\n".join(parts), centre.astype(np.float32))
