"""The record of a knowledge base's sources, kept apart from its index so that the index can
be rebuilt from it (`rag reindex --from-sources`) when the catalog or a store is lost.

`<data_dir>/sources/<kb>.jsonl` is an append-only log, one JSON object per line:

- `{"op": "put", "doc": ID, "source": NAME, "file": KEY or null, "version": V}` a document
  is (being) written; `file` is the catalog key of the file it came from (null: an upload or
  a posted text, whose bytes are not kept);
- `{"op": "del", "doc": ID}` a document is (being) removed;
- `{"op": "file", "key": KEY, "sha": SHA256}` a file is ingested at this content;
- `{"op": "forget", "key": KEY}` a file is forgotten.

Each line is written *before* the catalog commits the change, so the record is never behind
the index: it may name a document whose write was cut short (the rebuild parses that file
again, which is what the interrupted run was doing). A line torn by a crash is skipped when
read. The writer rewrites the log folded (one line per live document and file) when it has
grown to several times what it holds.
"""

from __future__ import annotations

import hashlib
import json
import os
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from rag.catalog import DocRecord
from rag.jsonl import objects
from rag.manifest import DEFAULT_KB

__all__ = [
    "RecordedDoc",
    "SourceRecord",
    "Sources",
    "entry_of",
    "file_doc_id",
    "sources_path",
]


def sources_path(data_dir: Path, kb: str = DEFAULT_KB) -> Path:
    """Where the source record of knowledge base `kb` lives."""
    return data_dir / "sources" / f"{kb}.jsonl"


def file_doc_id(key: str) -> str:
    """The document id of a file ingested from disk (`key`: its catalog key): a hash of the
    key, so that the API shows no server path (`file:` and 32 hex digits); an archive's
    members add `!member`. Documents ingested before this scheme keep their path ids until
    their file changes."""
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
    return f"file:{digest[:32]}"


@dataclass(frozen=True, slots=True)
class RecordedDoc:
    """A document as the record knows it."""

    doc_id: str
    source: str
    file: str | None
    version: str

    @property
    def from_file(self) -> bool:
        """Whether it is the file itself or a member of it (not a row of a JSONL corpus)."""
        file = self.file
        if file is None:
            return False
        return any(
            self.doc_id == base or self.doc_id.startswith(f"{base}!")
            for base in (file, file_doc_id(file))
        )


@dataclass(slots=True)
class Sources:
    """What a record holds once folded: live documents and files."""

    docs: dict[str, RecordedDoc] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)  # catalog key -> sha256
    lines: int = 0
    torn: int = 0  # lines that could not be read (a crash cut the last one short)

    @classmethod
    def of(cls, docs: Iterable[DocRecord], files: dict[str, str]) -> Sources:
        """What an index holds (its catalog's documents and files), as a record would."""
        held = cls(files=dict(files))
        for d in docs:
            held.docs[d.doc_id] = RecordedDoc(d.doc_id, d.source, d.file, d.version)
        return held

    def apply(self, entry: dict[str, object]) -> None:
        """Fold one log entry in."""
        op = entry.get("op")
        if op == "put":
            file = entry.get("file")
            doc = RecordedDoc(
                str(entry["doc"]),
                str(entry["source"]),
                None if file is None else str(file),
                str(entry["version"]),
            )
            self.docs[doc.doc_id] = doc
        elif op == "del":
            self.docs.pop(str(entry["doc"]), None)
        elif op == "file":
            self.files[str(entry["key"])] = str(entry["sha"])
        elif op == "forget":
            self.files.pop(str(entry["key"]), None)
        else:
            raise ValueError(f"unknown op {op!r}")

    def entries(self) -> list[dict[str, object]]:
        """The folded log: one line per live file and document."""
        files: list[dict[str, object]] = [
            {"op": "file", "key": key, "sha": sha} for key, sha in sorted(self.files.items())
        ]
        return files + [entry_of(d) for d in sorted(self.docs.values(), key=lambda d: d.doc_id)]


def entry_of(doc: RecordedDoc | DocRecord) -> dict[str, object]:
    """The `put` entry of a document."""
    return {
        "op": "put",
        "doc": doc.doc_id,
        "source": doc.source,
        "file": doc.file,
        "version": doc.version,
    }


class AppendedLog(ABC):
    """What every record of sources does over its primitives: append entries, read the
    record folded, rewrite it folded."""

    @abstractmethod
    def read(self) -> Sources:
        """The record folded; an absent record holds nothing."""

    @abstractmethod
    def rewrite(self, held: Sources) -> None:
        """Replace the record by `held`, folded (atomically)."""

    @abstractmethod
    def _append(self, entries: list[dict[str, object]]) -> None:
        """Add entries at the end of the record (durably, in this order)."""

    def put(self, docs: Iterable[DocRecord]) -> None:
        """Documents are about to be written."""
        self._append([entry_of(d) for d in docs])

    def removed(self, doc_id: str) -> None:
        """A document is about to be removed."""
        self._append([{"op": "del", "doc": doc_id}])

    def file(self, key: str, sha256: str) -> None:
        """A file is about to be recorded as ingested at this content."""
        self._append([{"op": "file", "key": key, "sha": sha256}])

    def forgot(self, key: str) -> None:
        """A file is about to be forgotten."""
        self._append([{"op": "forget", "key": key}])

    def compact(self) -> None:
        """Fold the record when it holds over twice (and 1000 entries more than) what is
        live, or a torn entry."""
        held = self.read()
        live = len(held.docs) + len(held.files)
        if held.torn or held.lines > 2 * live + 1000:
            self.rewrite(held)


class SourceRecord(AppendedLog):
    """The log of one knowledge base in a file, written by its one writer
    (`rag.index.Index`): the embedded `rag.state.base.SourceLog`."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def where(self) -> str:
        return str(self.path)

    def exists(self) -> bool:
        """Whether a record has been started."""
        return self.path.is_file()

    def read(self) -> Sources:
        """The record folded; an absent record holds nothing."""
        held = Sources()
        if not self.path.exists():
            return held
        for _, entry in objects(self.path, errors="replace"):
            held.lines += 1
            if isinstance(entry, ValueError):
                held.torn += 1
                continue
            try:
                held.apply(entry)
            except (ValueError, KeyError):
                held.torn += 1
        return held

    def rewrite(self, held: Sources) -> None:
        """Replace the log by `held`, folded (atomically: a crash leaves the old or the new)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        with temp.open("w", encoding="utf-8") as handle:
            for entry in held.entries():
                handle.write(json.dumps(entry, ensure_ascii=False) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, self.path)

    def remove(self) -> None:
        """Delete the record (its knowledge base is deleted)."""
        self.path.unlink(missing_ok=True)

    def _append(self, entries: list[dict[str, object]]) -> None:
        if not entries:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in entries)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            view = memoryview(data.encode("utf-8"))
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
