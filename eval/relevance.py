"""Which documents of an index are relevant to each question of a set, at document level.

A BEIR question brings graded judgements by document id. A QA question names `doc_ids`
(taken as they are), `sources` (a document whose source equals one, or ends with `/` + it),
or only `answers` (the documents with a chunk that contains one of the phrases, whitespace
ignored, as `rag eval passages` counts it). A name that matches nothing is reported, so a
stale question set does not silently score zero.

Example:
    >>> judged = resolve(items, index)  # doctest: +SKIP
    >>> judged.qrels["q1"]  # doctest: +SKIP
    {'handbook.md': 1}
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from eval.datasets import QaItem
from rag.catalog import DocRecord
from rag.index import Index

__all__ = ["Judged", "resolve"]

_SPACE = re.compile(r"\s+")


@dataclass(slots=True)
class Judged:
    """Relevant documents per question id, and what could not be matched."""

    qrels: dict[str, dict[str, int]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def resolve(items: Sequence[QaItem], index: Index) -> Judged:
    """The relevant documents of every question that says how to find them."""
    out = Judged()
    lookup = _Lookup(index)
    for item in items:
        relevant = dict(item.relevance) or lookup.named(item, out.problems)
        if not relevant and item.answers:
            relevant = lookup.containing(item.answers)
            if not relevant:
                out.problems.append(
                    f"question {item.id}: no chunk contains any of its answers {list(item.answers)}"
                )
        if relevant:
            out.qrels[item.id] = relevant
    return out


class _Lookup:
    """The index's documents and chunk texts, read once, when first needed."""

    def __init__(self, index: Index) -> None:
        self._index = index
        self._documents: list[DocRecord] | None = None
        self._texts: dict[str, list[str]] | None = None

    def documents(self) -> list[DocRecord]:
        if self._documents is None:
            self._documents = self._index.documents()
        return self._documents

    def named(self, item: QaItem, problems: list[str]) -> dict[str, int]:
        """The documents `doc_ids` and `sources` name (what matches nothing is reported)."""
        relevant: dict[str, int] = {}
        known = {d.doc_id for d in self.documents()} if item.doc_ids else set()
        for doc in item.doc_ids:
            if doc not in known:
                problems.append(f"question {item.id}: no document has id {doc!r}")
            relevant[doc] = 1
        for source in item.sources:
            tail = "/" + source.lstrip("/")
            found = [
                d.doc_id for d in self.documents() if d.source == source or d.source.endswith(tail)
            ]
            if not found:
                problems.append(f"question {item.id}: no document has source {source!r}")
            relevant.update(dict.fromkeys(found, 1))
        return relevant

    def containing(self, answers: Sequence[str]) -> dict[str, int]:
        """The documents with a chunk that contains one of the phrases."""
        if self._texts is None:
            self._texts = _chunk_texts(self._index)
        phrases = [_SPACE.sub("", a) for a in answers]
        return {
            doc: 1
            for doc, chunks in self._texts.items()
            if any(p in text for p in phrases for text in chunks)
        }


def _chunk_texts(index: Index) -> dict[str, list[str]]:
    """Each document's chunk texts, whitespace removed."""
    out: dict[str, list[str]] = {}
    for document in index.documents():
        ids = index.chunk_ids(document.doc_id)
        out[document.doc_id] = [_SPACE.sub("", c.text) for c in index.chunks(ids).values()]
    return out
