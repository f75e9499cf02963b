"""Incremental, idempotent, per-file-isolated ingestion of folders and BEIR corpora.

Every function takes one knowledge base (`runtime.kb(name)` of a `rag.runtime.Runtime`
opened with `write=True`): the runtime's loaded embedder and the knowledge base's open
index, so a server ingests upload after upload without loading its model again.

Example:
    >>> with Runtime.open(load_config(), write=True) as runtime:  # doctest: +SKIP
    ...     report = ingest_paths(runtime.kb(create=""), [Path("docs")])
    >>> report.exit_code  # 0 when every file was parsed or skipped  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ingest.discover import discover, display, file_key, key_path, open_regular
from ingest.isolation import ParsedPart, ParserPool
from ingest.progress import NoProgress, Progress
from ingest.split import TokenSplitter
from ingest.writer import FileMark, Writer
from rag.config import RagConfig
from rag.errors import CorruptFileError, FileTooLargeError, IngestError, MissingToolError
from rag.faults import crash_point
from rag.index import Index
from rag.jsonl import objects
from rag.knowledge_base import KnowledgeBase
from rag.sources import file_doc_id
from rag.types import Document, Element

__all__ = [
    "FileResult",
    "IngestReport",
    "corpus_document",
    "delete_source",
    "ingest_jsonl",
    "ingest_paths",
    "ingest_text",
    "ingest_uploads",
]

logger = logging.getLogger(__name__)

Status = Literal["parsed", "skipped", "failed", "removed"]


@dataclass(frozen=True, slots=True)
class FileResult:
    """What happened to one file, archive member or corpus document."""

    source: str
    status: Status
    chunks: int = 0
    reason: str = ""  # why it failed or was skipped; when parsed, what the parser dropped
    doc_id: str = ""
    code: str = ""  # a failure's kind (`IngestError.code`, or too_large), where known


@dataclass(slots=True)
class IngestReport:
    """Per-file results and totals of one ingestion run."""

    results: list[FileResult] = field(default_factory=list)
    seconds: float = 0.0
    reused: int = 0  # chunk vectors taken from the vector cache instead of the model
    interrupted: int | None = None  # files left when Ctrl-C or SIGTERM stopped the run
    resumed: int | None = None  # files an interrupted earlier run had left

    def count(self, status: Status) -> int:
        """Number of results with this status."""
        return sum(1 for r in self.results if r.status == status)

    @property
    def chunks_written(self) -> int:
        """Chunks embedded and written in this run."""
        return sum(r.chunks for r in self.results if r.status == "parsed")

    @property
    def exit_code(self) -> int:
        """0 when every file was parsed, skipped or removed; 1 when any failed."""
        return 1 if self.count("failed") else 0


@contextmanager
def _writing(kb: KnowledgeBase, progress: Progress) -> Iterator[Writer]:
    """The run's writer (embedding and writing on its own thread), stopped afterwards."""
    kb.index.require_writer()
    splitter = TokenSplitter(kb.config.chunker, kb.embedder.tokenizer)
    batch = 4 * kb.config.embedder.batch_size
    writer = Writer(kb.index, kb.ingest_embedder, splitter, batch, progress)
    try:
        yield writer
    finally:
        writer.close()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with os.fdopen(open_regular(path), "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _changed(index: Index, file: Path) -> str | None:
    """The file's sha256 when it needs (re)ingesting, else None."""
    stat, key = file.stat(), file_key(file)
    state = index.file_state(key)
    if state and state[1:] == (stat.st_size, stat.st_mtime_ns):
        return None
    sha = _sha256(file)
    if state and state[0] == sha:
        index.set_file_state(key, sha, stat.st_size, stat.st_mtime_ns)
        return None
    return sha


def _failed_before(index: Index, file: Path, sha: str) -> list[FileResult]:
    """The remembered failures of a file unchanged since it failed (none if it changed):
    a file that hangs its parser costs the time limit once, not on every run."""
    key = file_key(file)
    remembered = index.failure(key)
    if remembered is None or remembered[0] != sha:
        return []
    note = "(unchanged since it failed; --retry-failed parses it again)"
    failed = [FileResult(source, "failed", reason=f"{why} {note}") for source, why in remembered[1]]
    return failed + [FileResult(d.source, "skipped", doc_id=d.doc_id) for d in index.documents(key)]


def ingest_paths(
    kb: KnowledgeBase,
    paths: Iterable[Path],
    *,
    prune: bool = False,
    progress: Progress | None = None,
    follow_links: bool = False,
    retry_failed: bool = False,
    pool: ParserPool | None = None,
) -> IngestReport:
    """Ingest files and folders: new and changed files are parsed, unchanged ones skipped.

    Args:
        kb: The knowledge base, opened for writing.
        paths: Files and folders.
        prune: Also remove documents whose files under these folders are gone.
        progress: Receives progress of parsing.
        follow_links: Follow symbolic links out of the folders (see `ingest.discover`).
        retry_failed: Parse again files that failed and have not changed since.
        pool: Parser processes already started (they stay the caller's to close); else a
            pool of this run's own.

    Returns:
        The per-file report. Files that fail do not stop the run.

    Raises:
        IngestError: A path does not exist.
    """
    started = time.monotonic()
    progress = progress or NoProgress()
    config, index = kb.config, kb.index
    paths = list(paths)
    found = discover(paths, config.data_dir, follow_links=follow_links)
    report = IngestReport([FileResult(name, "skipped", reason=why) for name, why in found.skipped])
    todo: dict[Path, str] = {}
    for file in found.files:
        too_big = _too_big(file, config.parser.max_file_mb)
        try:
            sha = None if too_big else _changed(index, file)
        except IngestError as exc:  # swapped for a FIFO or a link since it was found
            report.results.append(FileResult(display(file), "skipped", reason=str(exc)))
            continue
        before = [] if sha is None or retry_failed else _failed_before(index, file, sha)
        if too_big:
            report.results.append(
                FileResult(display(file), "failed", reason=too_big, code=FileTooLargeError.code)
            )
        elif sha is None:
            report.results.append(FileResult(display(file), "skipped"))
        elif before:
            report.results += before
        else:
            todo[file] = sha
    marker = config.data_dir / _INTERRUPTED
    report.resumed = _left_last_time(marker)
    progress.start(len(todo), "parsing")
    handed: list[tuple[str, list[FileResult]]] = []  # (catalog key, results) per file
    stopped = False
    with _writing(kb, progress) as writer:
        try:
            with _pool(config, pool) as parsers:
                for file, parts in parsers.parse(todo):
                    crash_point("after_parse")
                    results = _ingest_file(index, writer, file, todo[file], parts)
                    handed.append((file_key(file), results))
                    progress.advance(1, display(file))
            writer.flush()
        except KeyboardInterrupt:
            # Ctrl-C or SIGTERM: the writer stops at its next slice (leaving the _writing
            # block closes it); what it wrote stays, and the next run skips it.
            stopped = True
        report.reused = writer.reused
    if stopped:
        kept = [
            results
            for key, results in handed
            if key in writer.written_files or all(r.status != "parsed" for r in results)
        ]
        report.results += [r for results in kept for r in results]
        report.interrupted = len(todo) - len(kept)
        marker.write_text(json.dumps({"left": report.interrupted}), encoding="utf-8")
        report.seconds = time.monotonic() - started
        return report
    report.results += [r for _, results in handed for r in results]
    marker.unlink(missing_ok=True)
    if prune:
        report.results += _prune(index, paths)
    report.seconds = time.monotonic() - started
    return report


@contextmanager
def _pool(config: RagConfig, given: ParserPool | None) -> Iterator[ParserPool]:
    """The caller's parser pool, or one of this run's own, closed after it."""
    if given is not None:
        yield given
        return
    with ParserPool(config.parser, log_file=config.data_dir / "parser.log") as own:
        yield own


_INTERRUPTED = "ingest.interrupted"  # left by an interrupted run: {"left": files}


def _left_last_time(marker: Path) -> int | None:
    """Files an interrupted earlier run left, if it was interrupted."""
    try:
        return int(json.loads(marker.read_text(encoding="utf-8"))["left"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _too_big(file: Path, max_mb: float) -> str | None:
    size = file.stat().st_size
    if size > max_mb * 1e6:
        return f"file is {size / 1e6:.0f} MB, over parser.max_file_mb={max_mb:g}"
    return None


def _ingest_file(
    index: Index,
    writer: Writer,
    file: Path,
    sha: str,
    parts: list[ParsedPart],
    named: tuple[str, str] | None = None,
) -> list[FileResult]:
    """One parsed file's documents; `named` (doc id, source) for an upload, whose file on
    disk is temporary: its id is its content hash and its source the name it came with."""
    results: list[FileResult] = []
    kept: set[str] = set()
    key = file_key(file)
    base_id, base_source = named or (file_doc_id(key), display(file))
    for part in parts:
        doc_id = base_id if part.member is None else f"{base_id}!{part.member}"
        source = base_source if part.member is None else f"{base_source}!{part.member}"
        if part.error is not None:
            results.append(
                FileResult(source, "failed", reason=_one_line(part.error), code=part.error.code)
            )
            continue
        kept.add(doc_id)
        version = hashlib.sha256(f"{sha}\x00{part.member}".encode()).hexdigest()
        if named is not None and _current(index, doc_id, version):
            results.append(FileResult(source, "skipped", doc_id=doc_id))
            continue
        origin = None if named else key
        doc = Document(doc_id, source, version, part.elements, _title(part.elements), origin)
        chunks = writer.add(doc)
        results.append(FileResult(source, "parsed", chunks, reason=part.warning, doc_id=doc_id))
    if named is not None:
        return results
    lasting = [
        r
        for r, p in zip(results, parts, strict=True)
        if p.error is not None and not isinstance(p.error, MissingToolError)
    ]
    if all(r.status == "parsed" for r in results):
        # Archive members that are no longer in the archive go with the old version.
        for old in index.documents(file=key):
            if old.doc_id not in kept:
                writer.flush()
                index.delete_document(old.doc_id)
        writer.file_done(FileMark(key, sha))
    elif lasting:  # a missing tool is not the file's fault: installing it should retry
        writer.file_done(FileMark(key, sha, [(r.source, r.reason) for r in lasting]))
    return results


def _current(index: Index, doc_id: str, version: str) -> bool:
    old = index.document(doc_id)
    return old is not None and old.version == version


def ingest_uploads(
    kb: KnowledgeBase, files: Sequence[tuple[str, Path]], *, progress: Progress | None = None
) -> IngestReport:
    """Ingest uploaded files, each given as (the name it came with, its temporary path).

    An upload's document id is `sha256:<hash of its bytes>`, so the same file uploaded
    twice (or by several clients) is one document; its source is the name it came with.
    Files are parsed in isolation as on the command line: one that fails does not stop
    the others.
    """
    started = time.monotonic()
    progress = progress or NoProgress()
    config, index = kb.config, kb.index
    report = IngestReport()
    todo: dict[Path, str] = {}
    names: dict[Path, str] = {}
    for name, path in files:
        too_big = _too_big(path, config.parser.max_file_mb)
        if too_big:
            report.results.append(
                FileResult(name, "failed", reason=too_big, code=FileTooLargeError.code)
            )
            continue
        sha = _sha256(path)
        if sha in todo.values():  # the same bytes twice in one upload: one document
            report.results.append(FileResult(name, "skipped", doc_id=f"sha256:{sha}"))
            continue
        todo[path], names[path] = sha, name
    progress.start(len(todo), "parsing")
    with (
        _writing(kb, progress) as writer,
        ParserPool(config.parser, log_file=config.data_dir / "parser.log") as pool,
    ):
        for path, parts in pool.parse(todo):
            named = (f"sha256:{todo[path]}", names[path])
            report.results += _ingest_file(index, writer, path, todo[path], parts, named)
            progress.advance(1, names[path])
        writer.flush()
    report.seconds, report.reused = time.monotonic() - started, writer.reused
    return report


def ingest_text(
    kb: KnowledgeBase, text: str, source: str, title: str = "", *, progress: Progress | None = None
) -> IngestReport:
    """Ingest one text given directly (no file): its document id is `sha256:<hash of the
    text>`, its source `source`.

    Raises:
        IngestError: The text is empty.
    """
    started = time.monotonic()
    if not text.strip():
        raise IngestError("the text is empty; give the document's text", source=source)
    progress = progress or NoProgress()
    progress.start(1, "embedding")
    index = kb.index
    version = hashlib.sha256(f"{title}\x00{text}".encode()).hexdigest()
    doc_id = f"sha256:{hashlib.sha256(text.encode()).hexdigest()}"
    report = IngestReport()
    if _current(index, doc_id, version):
        report.results.append(FileResult(source, "skipped", doc_id=doc_id))
    else:
        section = (title,) if title else ()
        elements = ((Element(title, "Title", None, section),) if title else ()) + (
            Element(text, "NarrativeText", None, section),
        )
        doc = Document(doc_id, source, version, elements, title, None)
        with _writing(kb, progress) as writer:
            chunks = writer.add(doc)
            writer.flush()
        report.results.append(FileResult(source, "parsed", chunks, doc_id=doc_id))
        report.reused = writer.reused
    progress.advance(1, source)
    report.seconds = time.monotonic() - started
    return report


def _one_line(error: IngestError) -> str:
    message = IngestError.__str__(error) if error.source is None else str(error)
    return " ".join(message.split())


def _title(elements: tuple[Element, ...]) -> str:
    return next((e.text for e in elements if e.category == "Title"), "")[:200]


def _prune(index: Index, paths: list[Path]) -> list[FileResult]:
    roots = [p.resolve() for p in paths if p.is_dir()]
    results = []
    for doc in index.documents():
        if doc.file is None or key_path(doc.file).exists():
            continue
        if any(root in key_path(doc.file).parents for root in roots):
            index.delete_document(doc.doc_id)
            index.forget_file(doc.file)
            results.append(FileResult(doc.source, "removed", reason="file is gone"))
    return results


def delete_source(kb: KnowledgeBase, source: str) -> list[str]:
    """Remove the documents of one file (all members of an archive) or one document id.
    Needs no embedding model (`Runtime.open(config, write=True, model=False)`).

    Returns:
        The sources removed (empty when nothing matched).
    """
    index = kb.index
    index.require_writer()
    file = file_key(Path(source).resolve())
    docs = index.documents(file=file)
    if not docs:
        docs = [d for d in index.documents() if source in (d.doc_id, d.source)]
    for doc in docs:
        index.delete_document(doc.doc_id)
        if doc.file:
            index.forget_file(doc.file)
    return [d.source for d in docs]


def _read_jsonl(file: Path) -> Iterator[tuple[int, dict[str, object] | IngestError]]:
    for number, row in objects(file):
        if isinstance(row, dict) and "_id" not in row:
            row = ValueError("no _id field")
        if isinstance(row, ValueError):
            yield number, CorruptFileError(f"line {number}: {row}", source=display(file))
        else:
            yield number, row


def ingest_jsonl(
    kb: KnowledgeBase, file: Path, *, prune: bool = False, progress: Progress | None = None
) -> IngestReport:
    """Ingest a BEIR-style corpus (`_id`, `title`, `text` per line); `_id` is the doc id.

    Unchanged documents are skipped; with `prune`, documents of this file whose `_id` is no
    longer in it are removed.
    """
    started = time.monotonic()
    progress = progress or NoProgress()
    file = file.resolve()
    if not file.is_file():
        raise IngestError(f"{display(file)} does not exist; give a corpus.jsonl file")
    rows = list(_read_jsonl(file))
    report = IngestReport()
    index = kb.index
    progress.start(len(rows), "documents")
    seen: set[str] = set()
    with _writing(kb, progress) as writer:
        for _, row in rows:
            if isinstance(row, IngestError):
                report.results.append(FileResult(row.source or "", "failed", reason=str(row)))
            else:
                seen.add(str(row["_id"]))
                report.results.append(_ingest_row(index, writer, file, row))
            progress.advance(1)
        writer.flush()
        report.reused = writer.reused
    if prune:
        for doc in index.documents(file=str(file)):
            if doc.doc_id not in seen:
                index.delete_document(doc.doc_id)
                report.results.append(FileResult(doc.source, "removed", reason="not in corpus"))
    report.seconds = time.monotonic() - started
    return report


def _ingest_row(index: Index, writer: Writer, file: Path, row: dict[str, object]) -> FileResult:
    doc_id = str(row["_id"])
    title, text = str(row.get("title") or "").strip(), str(row.get("text") or "").strip()
    version = hashlib.sha256(f"{title}\x00{text}".encode()).hexdigest()
    old = index.document(doc_id)
    if old is not None and old.version == version:
        return FileResult(doc_id, "skipped")
    if not (title or text):
        return FileResult(doc_id, "failed", reason="empty title and text")
    return FileResult(doc_id, "parsed", writer.add(corpus_document(file, row)))


def corpus_document(file: Path, row: dict[str, object]) -> Document:
    """The document of one corpus row (`_id`, `title`, `text`)."""
    doc_id = str(row["_id"])
    title, text = str(row.get("title") or "").strip(), str(row.get("text") or "").strip()
    version = hashlib.sha256(f"{title}\x00{text}".encode()).hexdigest()
    section = (title,) if title else ()
    elements = ((Element(title, "Title", None, section),) if title else ()) + (
        (Element(text, "NarrativeText", None, section),) if text else ()
    )
    return Document(doc_id, doc_id, version, elements, title, str(file))
