"""A readers-writer lock for one process: many searches at once, or one commit.

A search reads the catalog and the stores in several steps; holding the read side for the
whole search means it sees every in-process write either before or after, never half of
one. A thread may take the read side again while it holds it (a two-level search runs a
chunk search inside), and the writing thread may read while it writes. A waiting writer
holds back new readers, so a stream of searches cannot starve it.

Example:
    >>> lock = ReadWriteLock()
    >>> with lock.reading():
    ...     pass
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["ReadWriteLock"]


class ReadWriteLock:
    """Shared `reading()`, exclusive `writing()`; both are context managers."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writer: int | None = None  # the writing thread's id
        self._waiting = 0
        self._depth = threading.local()

    @contextmanager
    def reading(self) -> Iterator[None]:
        """Hold the read side (re-entrant; free for the thread that is writing)."""
        depth: int = getattr(self._depth, "n", 0)
        me = threading.get_ident()
        if depth == 0 and self._writer != me:
            with self._cond:
                while self._writer is not None or self._waiting:
                    self._cond.wait()
                self._readers += 1
        elif depth == 0:
            depth = -1  # inside this thread's own write: nothing to count
        self._depth.n = max(depth, 0) + 1
        try:
            yield
        finally:
            self._depth.n = max(depth, 0)
            if depth == 0:
                with self._cond:
                    self._readers -= 1
                    if not self._readers:
                        self._cond.notify_all()

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Hold the write side: waits for current readers, holds back new ones."""
        with self._cond:
            self._waiting += 1
            while self._writer is not None or self._readers:
                self._cond.wait()
            self._waiting -= 1
            self._writer = threading.get_ident()
        try:
            yield
        finally:
            with self._cond:
                self._writer = None
                self._cond.notify_all()
