"""Typed values passed between pipeline stages. All frozen: stages return new objects."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Answer",
    "Chunk",
    "Citation",
    "Document",
    "Element",
    "Filters",
    "Hit",
    "StageScore",
]


@dataclass(frozen=True, slots=True)
class Element:
    """One piece of parsed text with where it came from.

    Attributes:
        text: The text.
        category: The parser's element type (`Title`, `NarrativeText`, `Table`, ...).
        page: 1-based page number, when the format has pages.
        section: The enclosing section titles, outermost first.
    """

    text: str
    category: str = "Text"
    page: int | None = None
    section: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Document:
    """A parsed document ready for chunking.

    Attributes:
        doc_id: Stable id of the source (path, archive member or corpus `_id`).
        source: What to show the user as the origin (a path or an id).
        version: SHA-256 of the source bytes; a new version replaces the old chunks.
        elements: The parsed elements, in reading order.
        title: A document title when known.
        file: The file on disk this document came from (for prune), if any.
    """

    doc_id: str
    source: str
    version: str
    elements: tuple[Element, ...]
    title: str = ""
    file: str | None = None


@dataclass(frozen=True, slots=True)
class Chunk:
    """A piece of a document sized for the embedding model."""

    chunk_id: str
    doc_id: str
    version: str
    text: str
    index: int
    source: str
    page: int | None = None
    section: str = ""
    n_tokens: int = 0


@dataclass(frozen=True, slots=True)
class StageScore:
    """A chunk's score and 1-based rank in one retrieval stage (`dense`, `bm25`, `rrf`...)."""

    stage: str
    score: float
    rank: int


@dataclass(frozen=True, slots=True)
class Hit:
    """A retrieved chunk with the score of the stage that ranked it last (higher is better;
    `dense` is cosine similarity) and the scores and ranks of every stage it went through;
    `kb` names its knowledge base once a search over knowledge bases has tagged it.
    `confidence` is the calibrated probability that the chunk is relevant
    (`rag.retrieve.confidence`): comparable across questions, modes and knowledge bases,
    where `score` is only comparable within one ranking; None where nothing set it."""

    chunk: Chunk
    score: float
    stage: str = "dense"
    stages: tuple[StageScore, ...] = ()
    kb: str = ""
    confidence: float | None = None


@dataclass(frozen=True, slots=True)
class Filters:
    """Which documents a search may return: those with these ids, and/or whose source
    starts with `source_prefix` (both: both must hold). Empty filters allow everything."""

    doc_ids: tuple[str, ...] | None = None
    source_prefix: str | None = None

    @property
    def empty(self) -> bool:
        return self.doc_ids is None and not self.source_prefix


@dataclass(frozen=True, slots=True)
class Citation:
    """A numbered source the answer cites as `[n]`."""

    n: int
    hit: Hit


@dataclass(frozen=True, slots=True)
class Answer:
    """An answer with its numbered sources.

    `no_context` is True when the index held nothing relevant; `text` then explains that
    instead of pretending to answer. `cited` are the source numbers the text cites;
    `invalid_citations` counts markers removed because they pointed to no source;
    `fallback` is True when the model could not be reached (or broke off an answer asked
    for whole) and the extractive answer was given instead (`warnings` says why).
    `prompt_tokens` and `completion_tokens` are what the model was sent and wrote, over
    every call (zero for an extractive answer).
    """

    text: str
    citations: tuple[Citation, ...] = ()
    no_context: bool = False
    timings_ms: dict[str, float] = field(default_factory=dict)
    cited: tuple[int, ...] = ()
    invalid_citations: int = 0
    fallback: bool = False
    warnings: tuple[str, ...] = ()
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def to_json(self) -> dict[str, Any]:
        """The answer as JSON-ready data (`rag ask --json`, the service's answers)."""
        return {
            "answer": self.text,
            "no_context": self.no_context,
            "cited": list(self.cited),
            "invalid_citations": self.invalid_citations,
            "fallback": self.fallback,
            "warnings": list(self.warnings),
            "timings_ms": {k: round(v, 1) for k, v in self.timings_ms.items()},
            "usage": {
                "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens,
            },
            "sources": [
                {
                    "n": c.n,
                    "source": c.hit.chunk.source,
                    "page": c.hit.chunk.page,
                    "section": c.hit.chunk.section,
                    "score": round(c.hit.score, 6),
                    "confidence": c.hit.confidence,
                    "text": c.hit.chunk.text,
                }
                for c in self.citations
            ],
        }
