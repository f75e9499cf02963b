"""Embedding and writing parsed documents on a thread of their own.

The ingesting thread parses (through the parser processes) and splits; this writer embeds
and writes, so that the parsers get their next files while the model works on the last
ones. The hand-over is bounded: `add` waits while `max_pending` documents are waiting, so a
folder of large files never piles up in memory (back-pressure). Work is done in the order
it was handed over, every index write of the run on the writer's thread; `flush` waits
until everything handed over is written and re-raises the writer's error, if any. A file is
marked as ingested only once its documents are written (`written_files` says which).
`close` stops at the next slice of a large document's embedding: on Ctrl-C what is written
stays, the documents still being embedded are dropped whole.

Progress tells the truth while a large file is embedded: chunks embedded of chunks found,
with the file they come from, after each slice of `SLICE` chunks.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass, field

import numpy as np

from ingest.discover import key_path
from ingest.progress import Progress
from ingest.split import TokenSplitter
from rag.catalog import DocRecord
from rag.embed.base import Tokenizer
from rag.embed.vector_cache import PersistentEmbedder
from rag.faults import crash_point
from rag.index import Index, contextual_text
from rag.types import Chunk, Document

__all__ = ["SLICE", "FileMark", "Writer", "embedding_text"]

SLICE = 128  # chunks embedded between two progress reports (and checks for Ctrl-C)


def embedding_text(chunk: Chunk, tokenizer: Tokenizer) -> str:
    """The text embedded for a chunk: the chunk headed by its section path, the header cut
    to fit the model's input."""
    text = contextual_text(chunk)
    if text == chunk.text:
        return text
    header = text[: len(text) - len(chunk.text) - 1]
    room = tokenizer.max_tokens - chunk.n_tokens - 1  # one for the line break
    offsets = tokenizer.offsets(header)
    if room <= 0:
        return chunk.text
    if len(offsets) > room:
        header = header[: offsets[room][0]].rstrip()
    return f"{header}\n{chunk.text}"


@dataclass(frozen=True, slots=True)
class FileMark:
    """A file (catalog key) to remember once its documents are written: as ingested, or
    with `failures` ((source, reason) per failed part) as failed at this content."""

    file: str
    sha256: str
    failures: list[tuple[str, str]] = field(default_factory=list)


_Item = tuple[DocRecord, list[Chunk]] | FileMark | threading.Event


class _Stopped(Exception):
    """The writer was closed while it embedded: the batch is dropped."""


class Writer:
    """Embeds documents in batches of about `batch` chunks and writes each atomically."""

    def __init__(
        self,
        index: Index,
        embedder: PersistentEmbedder,
        splitter: TokenSplitter,
        batch: int,
        progress: Progress,
        max_pending: int = 8,
    ) -> None:
        self._index, self._embedder, self._splitter = index, embedder, splitter
        self._batch, self._progress = batch, progress
        self._docs: list[tuple[DocRecord, list[Chunk]]] = []  # the writer thread's own
        self._marks: list[FileMark] = []
        self._queue: queue.Queue[_Item] = queue.Queue(maxsize=max_pending)
        self._error: BaseException | None = None
        self._stop = threading.Event()
        self.found = self.embedded = 0
        self.written_files: set[str] = set()  # catalog keys of the files marked so far
        self._thread = threading.Thread(target=self._run, name="rag-ingest-writer", daemon=True)
        self._thread.start()

    @property
    def reused(self) -> int:
        """Chunk vectors the vector cache gave so far."""
        return self._embedder.reused

    def add(self, doc: Document) -> int:
        """Split `doc` and hand it over; its number of chunks."""
        self._raise()
        chunks = self._splitter.split(doc)
        record = DocRecord(doc.doc_id, doc.source, doc.file, doc.version, len(chunks), doc.title)
        self.found += len(chunks)
        self._queue.put((record, chunks))
        return len(chunks)

    def file_done(self, mark: FileMark) -> None:
        """Remember the file once the documents handed over before it are written."""
        self._raise()
        self._queue.put(mark)

    def flush(self) -> None:
        """Wait until everything handed over is written.

        Raises:
            The writer's error (embedding or writing), if it met one.
        """
        done = threading.Event()
        self._queue.put(done)
        while not done.wait(0.5):
            if not self._thread.is_alive():
                break
        self._raise()

    def close(self) -> None:
        """Stop the writer's thread: a batch being embedded is dropped at its next slice, a
        batch being written is finished (what was not flushed is dropped: a document is
        written whole or not at all)."""
        self._stop.set()
        self._thread.join()

    def _raise(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                item = self._queue.get(timeout=0.1)
            except queue.Empty:
                continue
            try:
                if self._stop.is_set() or self._error is not None:
                    continue  # dropped: stopping, or until the caller has seen the error
                self._handle(item)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller by _raise
                self._error = exc
                self._docs, self._marks = [], []
            finally:
                if isinstance(item, threading.Event):
                    item.set()  # a flush waiting for this point

    def _handle(self, item: _Item) -> None:
        if isinstance(item, threading.Event):
            self._write()
        elif isinstance(item, FileMark):
            self._marks.append(item)
            if not self._docs:
                self._write()
        else:
            self._docs.append(item)
            if sum(len(c) for _, c in self._docs) >= self._batch:
                self._write()

    def _write(self) -> None:
        vectors = self._embed()
        crash_point("after_embed")
        if self._docs:
            self._index.write_documents(self._docs, vectors)
        for mark in self._marks:
            if mark.failures:
                self._index.remember_failure(mark.file, mark.sha256, mark.failures)
                continue
            stat = key_path(mark.file).stat()
            self._index.set_file_state(mark.file, mark.sha256, stat.st_size, stat.st_mtime_ns)
        self.written_files.update(mark.file for mark in self._marks)
        self._docs, self._marks = [], []

    def _embed(self) -> np.ndarray:
        """The vectors of the pending documents' chunks, a slice at a time, each slice
        reported with the file it comes from."""
        tokenizer = self._splitter.tokenizer
        texts: list[str] = []
        sources: list[str] = []
        for record, chunks in self._docs:
            texts += [embedding_text(c, tokenizer) for c in chunks]
            sources += [record.source] * len(chunks)
        if not texts:
            return np.zeros((0, 1), np.float32)
        parts = []
        for start in range(0, len(texts), SLICE):
            if self._stop.is_set():
                raise _Stopped
            parts.append(self._embedder.embed_documents(texts[start : start + SLICE]))
            self.embedded += len(parts[-1])
            note = sources[min(start + SLICE, len(texts)) - 1]
            self._progress.chunks(self.embedded, self.found, note)
        return np.concatenate(parts)
