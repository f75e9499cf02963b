"""Structure-aware chunking measured in the embedding model's own tokens.

Chunks never cross a document or a section boundary, never exceed the model's input length
(text past it would be silently dropped by the model), and break at sentence boundaries that
know Chinese punctuation. A sentence longer than a chunk is cut at word-piece boundaries.

Example:
    >>> splitter = TokenSplitter(ChunkerConfig(chunk_tokens=200, overlap_tokens=32), tokenizer)
    >>> chunks = splitter.split(document)  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass

from rag.config import ChunkerConfig
from rag.embed.base import Tokenizer
from rag.errors import ConfigError
from rag.text import sentence_spans
from rag.types import Chunk, Document, Element

__all__ = ["TokenSplitter", "chunk_id"]


@dataclass(frozen=True, slots=True)
class _Unit:
    text: str
    page: int | None
    section: tuple[str, ...]
    n_tokens: int
    sep: str


def chunk_id(doc_id: str, section: str, page: int | None, text: str, occurrence: int) -> str:
    """Content hash of a chunk: same document, place and text give the same id."""
    key = "\x00".join([doc_id, section, str(page), text, str(occurrence)])
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class TokenSplitter:
    """Packs sentences into chunks of at most `chunk_tokens` word pieces."""

    def __init__(self, config: ChunkerConfig, tokenizer: Tokenizer) -> None:
        if config.chunk_tokens > tokenizer.max_tokens:
            raise ConfigError(
                f"chunker.chunk_tokens must be at most {tokenizer.max_tokens}, the embedding "
                f"model's input length. Currently, the chunk_tokens is {config.chunk_tokens}"
            )
        self._size = config.chunk_tokens
        self._overlap = config.overlap_tokens
        self._tokenizer = tokenizer

    @property
    def tokenizer(self) -> Tokenizer:
        """The embedding model's tokenizer the chunks are measured in."""
        return self._tokenizer

    def split(self, doc: Document) -> list[Chunk]:
        """Chunk one document; chunks carry its id, version, source, page and section."""
        chunks: list[Chunk] = []
        seen: dict[str, int] = {}
        for text, section, page, n_tokens in self._pack(self._units(doc.elements)):
            label = " > ".join(section)
            key = f"{label}\x00{page}\x00{text}"
            occurrence = seen.get(key, 0)
            seen[key] = occurrence + 1
            chunks.append(
                Chunk(
                    chunk_id=chunk_id(doc.doc_id, label, page, text, occurrence),
                    doc_id=doc.doc_id,
                    version=doc.version,
                    text=text,
                    index=len(chunks),
                    source=doc.source,
                    page=page,
                    section=label,
                    n_tokens=n_tokens,
                )
            )
        return chunks

    def _units(self, elements: tuple[Element, ...]) -> list[_Unit]:
        pieces: list[tuple[str, Element, str]] = []
        for element in elements:
            end = None
            for a, b in sentence_spans(element.text):
                pieces.append((element.text[a:b], element, _gap(element.text, end, a)))
                end = b
        counts = self._tokenizer.count([p[0] for p in pieces])
        units: list[_Unit] = []
        for (text, el, sep), n in zip(pieces, counts, strict=True):
            if n <= self._size:
                units.append(_Unit(text, el.page, el.section, n, sep))
                continue
            for i, (part, m) in enumerate(self._cut(text)):
                units.append(_Unit(part, el.page, el.section, m, sep if i == 0 else " "))
        return units

    def _cut(self, text: str) -> Iterator[tuple[str, int]]:
        """Cut an over-long sentence at word-piece boundaries into pieces of at most `size`
        tokens (re-counted: a piece cut inside a word can tokenise differently)."""
        offsets = self._tokenizer.offsets(text)
        start = 0
        while start < len(offsets):
            width = min(self._size, len(offsets) - start)
            while True:
                stop = start + width
                end = offsets[stop][0] if stop < len(offsets) else len(text)
                piece = text[offsets[start][0] : end].strip()
                n = self._tokenizer.count([piece])[0]
                if n <= self._size or width == 1:
                    break
                width = max(1, width - max(1, n - self._size))
            if piece:
                yield piece, n
            start += width

    def _pack(self, units: list[_Unit]) -> Iterator[tuple[str, tuple[str, ...], int | None, int]]:
        """Greedy packing. A new section starts a new chunk once the current one is half
        full, so small sections share a chunk instead of becoming fragments."""
        current: list[_Unit] = []
        carried = 0  # leading units of `current` that are overlap from the previous chunk
        total = 0
        pending = list(reversed(units))
        while pending:
            unit = pending.pop()
            new_section = bool(current) and unit.section != current[-1].section
            overflow = total + unit.n_tokens > self._size
            if current and (overflow or (new_section and total >= self._size // 2)):
                if len(current) > carried:
                    emitted, piece = self._emit(current, carried, pending)
                    yield piece
                    current = [] if new_section else self._tail(emitted)
                else:  # only overlap so far: drop it rather than emit a repeat
                    current = []
                carried = len(current)
                total = sum(u.n_tokens for u in current)
            current.append(unit)
            total += unit.n_tokens
        while len(current) > carried:
            _, piece = self._emit(current, carried, pending)
            yield piece
            current, carried, pending = list(reversed(pending)), 0, []

    def _emit(
        self, units: list[_Unit], carried: int, pending: list[_Unit]
    ) -> tuple[list[_Unit], tuple[str, tuple[str, ...], int | None, int]]:
        """Join a chunk, giving trailing units back to `pending` (or dropping the overlap)
        while the real token count is over the limit: joining can merge word pieces."""
        units = list(units)
        while True:
            text = _join(units)
            n = self._tokenizer.count([text])[0]
            if n <= self._size or len(units) == 1:
                break
            if len(units) > carried + 1:
                pending.append(units.pop())
            else:
                units, carried = units[carried:], 0
        return units, (text, units[0].section, units[0].page, n)

    def _tail(self, units: list[_Unit]) -> list[_Unit]:
        """Trailing sentences of the previous chunk that fit in the overlap budget."""
        tail: list[_Unit] = []
        budget = self._overlap
        for unit in reversed(units):
            if unit.n_tokens > budget:
                break
            tail.insert(0, unit)
            budget -= unit.n_tokens
        return tail


def _gap(text: str, end: int | None, start: int) -> str:
    """The separator to restore before a sentence: a newline between elements or lines."""
    if end is None:
        return "\n"
    gap = text[end:start]
    return "\n" if "\n" in gap else (" " if gap else "")


def _join(units: list[_Unit]) -> str:
    return units[0].text + "".join(u.sep + u.text for u in units[1:])
