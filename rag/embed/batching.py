"""Micro-batching: concurrent callers' texts embedded together by one model worker.

A server answering many questions at once would otherwise run one small model call per
question, each fighting the others for the cores (one MiniLM query goes from ~15 ms alone to
~250 ms among competing calls). Here every call queues its texts; one worker thread waits
up to `wait_s` for more to arrive, embeds up to `max_batch` texts of a kind (queries or
documents) in one call, and hands each caller its rows.

Example:
    >>> batched = BatchingEmbedder(embedder, wait_s=0.002, max_batch=32)  # doctest: +SKIP
    >>> vector = batched.embed_query("leave carry-over")  # from any thread  # doctest: +SKIP
    >>> batched.close()  # doctest: +SKIP
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from rag.embed.base import Embedder, Wrapper

__all__ = ["BatchingEmbedder", "BatchStats"]

Kind = Literal["query", "document"]


@dataclass
class _Request:
    kind: Kind
    texts: Sequence[str]
    result: Future[np.ndarray] = field(default_factory=Future)


@dataclass
class BatchStats:
    """Model calls made and texts embedded (for the service's metrics)."""

    calls: int = 0
    texts: int = 0
    largest: int = 0


class BatchingEmbedder(Wrapper):
    """An `Embedder` whose calls, from any number of threads, go through one worker."""

    def __init__(self, inner: Embedder, wait_s: float = 0.002, max_batch: int = 32) -> None:
        super().__init__(inner)
        self._wait_s, self._max_batch = wait_s, max_batch
        self._queue: queue.SimpleQueue[_Request | None] = queue.SimpleQueue()
        self._worker: threading.Thread | None = None
        self._start = threading.Lock()
        self._closed = False
        self.stats = BatchStats()

    def embed_query(self, text: str) -> np.ndarray:
        vectors: np.ndarray = self._submit("query", [text])[0]
        return vectors

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._submit("query", texts)

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self._submit("document", texts)

    def close(self) -> None:
        """Stop the worker once the queued calls are done; later calls run directly."""
        self._closed = True
        if self._worker is not None:
            self._queue.put(None)
            self._worker.join()
            self._worker = None

    def _submit(self, kind: Kind, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.fingerprint.dimension), dtype=np.float32)
        if self._closed or len(texts) >= self._max_batch:
            return self._call(kind, texts)  # already a batch: nothing to gain by waiting
        self._ensure_worker()
        request = _Request(kind, list(texts))
        self._queue.put(request)
        return request.result.result()

    def _ensure_worker(self) -> None:
        with self._start:
            if self._worker is None:
                self._worker = threading.Thread(
                    target=self._run, name="embedding-batcher", daemon=True
                )
                self._worker.start()

    def _call(self, kind: Kind, texts: Sequence[str]) -> np.ndarray:
        call = self._inner.embed_queries if kind == "query" else self._inner.embed_documents
        vectors = call(texts)
        self.stats.calls += 1
        self.stats.texts += len(texts)
        self.stats.largest = max(self.stats.largest, len(texts))
        return vectors

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch, stop = self._gather(first)
            for kind in ("query", "document"):
                self._embed([r for r in batch if r.kind == kind])
            if stop:
                return

    def _gather(self, first: _Request) -> tuple[list[_Request], bool]:
        """`first` and whatever arrives within the wait, up to `max_batch` texts."""
        batch, size = [first], len(first.texts)
        deadline = time.monotonic() + self._wait_s
        while size < self._max_batch:
            left = deadline - time.monotonic()
            try:
                item = self._queue.get(timeout=left) if left > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if item is None:
                return batch, True
            batch.append(item)
            size += len(item.texts)
        return batch, False

    def _embed(self, requests: list[_Request]) -> None:
        if not requests:
            return
        texts = [t for r in requests for t in r.texts]
        try:
            vectors = self._call(requests[0].kind, texts)
        except BaseException as exc:  # noqa: BLE001 - handed to every waiting caller
            for request in requests:
                request.result.set_exception(exc)
            return
        start = 0
        for request in requests:
            request.result.set_result(vectors[start : start + len(request.texts)])
            start += len(request.texts)
