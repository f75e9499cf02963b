"""Per-file isolation: files are parsed in separate processes with time and memory limits
and no network.

A broken, hostile or hanging file cannot take the batch down: a parser that raises reports a
one-line reason, one that runs past `parser.timeout_s` or dies (segfault, out of memory) is
killed with its process group (LibreOffice and tesseract children included) and replaced.

Each parser process (see `ingest.confine`) has an address-space limit
(`parser.max_memory_mb`, inherited by its children), no network (a network namespace of its
own where the kernel allows one, and always a guard on Python's sockets), and a private
temporary folder that is removed with it, however it ends.

Example:
    >>> with ParserPool(ParserConfig()) as pool:  # doctest: +SKIP
    ...     for path, parts in pool.parse([Path("a.pdf"), Path("b.docx")]):
    ...         ...
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

import rag.errors as errors
from rag.config import ParserConfig
from rag.types import Element

__all__ = ["ParsedPart", "ParserPool", "parse_file"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ParsedPart:
    """One document from a file: the file itself, or one member of an archive.

    Exactly one of `elements` and `error` is set; `warning` says what the parser dropped or
    could not decode (`ingest.coverage`).
    """

    member: str | None
    elements: tuple[Element, ...] = ()
    error: errors.IngestError | None = None
    warning: str = ""


def parse_file(path: Path, config: ParserConfig, loader: Any) -> list[ParsedPart]:
    """Parse one file (archives member by member). Runs inside a parser process."""
    from ingest.archive import ARCHIVE_SUFFIXES, iter_members

    path = _utf8_name(path)
    if path.suffix.lower() in ARCHIVE_SUFFIXES:
        parts = []
        for name, member in iter_members(path, config):
            if isinstance(member, errors.IngestError):
                parts.append(ParsedPart(name, error=member))
            else:
                parts.append(_parse_one(member, loader, name, config))
        if not parts:
            raise errors.EmptyDocumentError("the archive holds no files")
        return parts
    return [_parse_one(path, loader, None, config)]


def _parse_one(path: Path, loader: Any, member: str | None, config: ParserConfig) -> ParsedPart:
    from ingest.coverage import coverage_warning
    from ingest.guards import check_file

    try:
        check_file(path, config)
        elements = tuple(loader.load(path))
        return ParsedPart(member, elements, warning=coverage_warning(path, elements))
    except errors.IngestError as exc:
        return ParsedPart(member, error=exc)


def _utf8_name(path: Path) -> Path:
    """`path`, or for a name that is not UTF-8 (which parsers choke on) a link to it with a
    plain name in this process's private temporary folder."""
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        link = Path(tempfile.mkdtemp(prefix="rag-name-")) / f"file{path.suffix.lower()}"
        link.symlink_to(path)
        return link
    return path


def _serve(tasks: Connection, conn: Connection, config: ParserConfig) -> None:
    """Parser process main loop: receive paths, send parts or an error, until EOF."""
    _die_with_parent()
    # Ctrl-C reaches the whole process group: the ingesting process decides what to keep
    # and stops the parsers; a parser printing its own KeyboardInterrupt is noise.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from ingest.loaders import create_loader

    loader = create_loader(config)
    loader.warm_up()
    conn.send(("ready", None))
    while True:
        try:
            path = tasks.recv()
        except (EOFError, OSError):
            return
        try:
            reply: tuple[str, Any] = ("ok", _encode(parse_file(Path(path), config, loader)))
        except errors.IngestError as exc:
            reply = ("err", (type(exc).__name__, str(exc)))
        except MemoryError:
            # The heap may be left in pieces: report, then let the pool start a fresh process.
            conn.send(("fatal", ("ParserMemoryError", _over_memory(config))))
            return
        except RecursionError:
            reply = ("err", ("UnsafeFileError", "the file is nested too deeply to parse"))
        except Exception as exc:  # noqa: BLE001 - any parser bug is this file's failure, not ours
            reply = (
                "err",
                ("CorruptFileError", f"cannot parse the file ({type(exc).__name__}: {exc})"),
            )
        conn.send(reply)


def _over_memory(config: ParserConfig) -> str:
    return (
        f"parsing needed more memory than parser.max_memory_mb={config.max_memory_mb}; "
        "stopped (raise the limit for this file)"
    )


def _die_with_parent() -> None:
    """Linux: get SIGKILL when the ingesting process dies, so no parser outlives it."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return


_Wire = tuple[str | None, tuple[Element, ...], Any, str]


def _encode(parts: list[ParsedPart]) -> list[_Wire]:
    # Our exceptions carry extra state; send them as (class name, message).
    return [
        (
            p.member,
            p.elements,
            (type(p.error).__name__, str(p.error)) if p.error else None,
            p.warning,
        )
        for p in parts
    ]


def _decode_error(kind: str, message: str) -> errors.IngestError:
    cls = getattr(errors, kind, errors.CorruptFileError)
    if not (isinstance(cls, type) and issubclass(cls, errors.IngestError)):
        cls = errors.CorruptFileError
    return cls(message)


def _decode(raw: list[_Wire]) -> list[ParsedPart]:
    return [
        ParsedPart(member, elements, _decode_error(*err) if err else None, warning)
        for member, elements, err, warning in raw
    ]


def main() -> None:
    """Serve files in a parser process, once `ingest.confine` has confined it."""
    tasks, results = int(sys.argv[1]), int(sys.argv[2])
    config = ParserConfig.model_validate_json(os.environ["RAG_PARSER_PROCESS_CONFIG"])
    _serve(Connection(tasks, writable=False), Connection(results, readable=False), config)


class _Worker:
    """A parser process (a plain subprocess: no re-import of the caller's main module)."""

    def __init__(self, config: ParserConfig, log_file: Path | None) -> None:
        task_r, task_w = os.pipe()
        result_r, result_w = os.pipe()
        # Parsers (and LibreOffice, tesseract) extract into TMPDIR: a folder removed with
        # the process, so a parser killed mid-file leaves nothing behind.
        self.tmp = Path(tempfile.mkdtemp(prefix="rag-parser-"))
        env = dict(
            os.environ,
            RAG_PARSER_PROCESS_CONFIG=config.model_dump_json(),
            RAG_PARSER_PROCESS_MAX_MEMORY_MB=str(config.max_memory_mb),
            TMPDIR=str(self.tmp),
            TEMP=str(self.tmp),
            TMP=str(self.tmp),
        )
        # Parsers print warnings about every odd PDF object; keep them out of the terminal.
        if log_file is not None:  # a worker of a shared deployment starts with no data dir
            log_file.parent.mkdir(parents=True, exist_ok=True)
        self._log = log_file.open("ab") if log_file is not None else None
        self.process = subprocess.Popen(
            [sys.executable, "-m", "ingest.confine", str(task_r), str(result_w)],
            pass_fds=(task_r, result_w),
            env=env,
            stdout=self._log or subprocess.DEVNULL,
            stderr=self._log or subprocess.DEVNULL,
            start_new_session=True,  # its own process group, killed as a whole
        )
        os.close(task_r)
        os.close(result_w)
        self.tasks = Connection(task_w, readable=False)
        self.conn = Connection(result_r, writable=False)
        self.ready = False
        self.task: Path | None = None
        self.started = 0.0

    def kill(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            self.process.kill()
        self.process.wait(5)
        self.tasks.close()
        self.conn.close()
        shutil.rmtree(self.tmp, ignore_errors=True)
        if self._log is not None:
            self._log.close()


_GROW_AFTER_S = 1.0  # a file parsing longer than this makes a second parser worth starting


class ParserPool:
    """`parser.workers` parser processes; results come back as files finish."""

    def __init__(self, config: ParserConfig, log_file: Path | None = None) -> None:
        self._config = config
        self._log_file = log_file
        self._workers: list[_Worker] = []

    def __enter__(self) -> ParserPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop every parser process."""
        for worker in self._workers:
            worker.kill()
        self._workers = []

    def start(self, count: int = 1) -> None:
        """Start parser processes now (up to `count`), so that they load their parsers
        while the caller does other work (loading the embedding model)."""
        while len(self._workers) < min(count, self._config.workers):
            self._workers.append(_Worker(self._config, self._log_file))

    def parse(self, paths: Iterable[Path]) -> Iterator[tuple[Path, list[ParsedPart]]]:
        """Parse files side by side; yields (path, parts) in completion order.

        A file that fails as a whole yields one part with `member=None` and its error.
        """
        queue = deque(paths)
        if not queue:
            return
        while queue or any(w.task is not None for w in self._workers):
            self._grow(len(queue))
            for worker in self._workers:
                if worker.ready and worker.task is None and queue:
                    worker.task, worker.started = queue.popleft(), time.monotonic()
                    worker.tasks.send(str(worker.task))
            growing = bool(queue) and len(self._workers) < self._config.workers
            yield from self._collect(_GROW_AFTER_S / 4 if growing else None)

    def _grow(self, queued: int) -> None:
        """One more parser process when files wait and every process has been busy for a
        while: a parser takes ~4.5 s to load its libraries, longer than a few small files
        take to parse, so a handful of small files is parsed by one process alone."""
        if not queued or len(self._workers) >= self._config.workers:
            return
        now = time.monotonic()
        if all(w.task is not None and now - w.started > _GROW_AFTER_S for w in self._workers):
            self._workers.append(_Worker(self._config, self._log_file))

    def _collect(self, cap: float | None) -> Iterator[tuple[Path, list[ParsedPart]]]:
        """Results that arrived, waiting at most until the next time limit (or `cap`)."""
        timeout = self._config.timeout_s
        busy = [w for w in self._workers if w.task is not None]
        left = [timeout - (time.monotonic() - w.started) for w in busy]
        if cap is not None:
            left.append(cap)
        ready = wait([w.conn for w in self._workers], timeout=max(0.05, min(left, default=1.0)))
        for worker in list(self._workers):
            if worker.conn in ready:
                yield from self._receive(worker)
            elif worker.task is not None and time.monotonic() - worker.started > timeout:
                yield (
                    worker.task,
                    [
                        self._fail(
                            worker,
                            errors.ParseTimeoutError(
                                f"parsing took longer than parser.timeout_s={timeout:g}s; stopped"
                            ),
                        )
                    ],
                )

    def _receive(self, worker: _Worker) -> Iterator[tuple[Path, list[ParsedPart]]]:
        try:
            status, payload = worker.conn.recv()
        except (EOFError, OSError):
            code = worker.process.poll()
            if worker.task is None:
                raise errors.IngestError(
                    f"a parser process failed to start (exit code {code}); run with -v for details"
                ) from None
            yield (
                worker.task,
                [
                    self._fail(
                        worker,
                        errors.CorruptFileError(
                            f"the parser process crashed on this file (exit code {code}; its "
                            f"memory limit is parser.max_memory_mb={self._config.max_memory_mb})"
                        ),
                    )
                ],
            )
            return
        if status == "ready":
            worker.ready = True
            return
        task, worker.task = worker.task, None
        assert task is not None  # a reply only ever answers a sent task
        if status == "ok":
            yield task, _decode(payload)
        elif status == "fatal":  # the process reported its last file and exits
            yield task, [self._fail(worker, _decode_error(*payload))]
        else:
            yield task, [ParsedPart(None, error=_decode_error(*payload))]

    def _fail(self, worker: _Worker, error: errors.IngestError) -> ParsedPart:
        """Kill a stuck or dead worker, start a fresh one, report the file's error."""
        worker.kill()
        self._workers[self._workers.index(worker)] = _Worker(self._config, self._log_file)
        return ParsedPart(None, error=error)
