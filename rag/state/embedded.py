"""The embedded state: files and SQLite databases in the data dir, no server.

`manifest.json` (the registry, changed under a file lock), `embeddings.sqlite` (the vector
cache), `uploads/job-*` (staged uploads), `jobs.sqlite` (the job store) and one
`catalog.sqlite` per knowledge base (catalog and BM25 postings).

Example:
    >>> state = EmbeddedState(Path(".rag"))  # doctest: +SKIP
    >>> state.registry().read()  # doctest: +SKIP
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path

from filelock import FileLock

from rag.config import LexicalConfig
from rag.errors import StoreError
from rag.manifest import MANIFEST_NAME, Manifest, read_manifest, write_manifest
from rag.state.base import (
    Catalog,
    JobStore,
    KbRegistry,
    SourceLog,
    StateBackend,
    UploadStaging,
    UploadWriter,
    VectorCache,
)
from rag.state.registry import ManifestRegistry

__all__ = ["EmbeddedState", "FileRegistry", "FolderStaging"]


class FileRegistry(ManifestRegistry):
    """`manifest.json`, each change a read-modify-write under `manifest.json.lock`."""

    def __init__(self, data_dir: Path) -> None:
        self._dir = data_dir
        self._where = str(data_dir)
        self._lock = FileLock(str(data_dir / f"{MANIFEST_NAME}.lock"), timeout=30)

    def read(self) -> Manifest | None:
        return read_manifest(self._dir)

    def _change(self, change: Callable[[Manifest | None], Manifest | None]) -> Manifest | None:
        self._dir.mkdir(parents=True, exist_ok=True)
        with self._lock:
            current = read_manifest(self._dir)
            changed = change(current)
            if changed is not None and changed != current:
                write_manifest(self._dir, changed)
            return changed


class FolderStaging:
    """`<data_dir>/uploads/job-*`: one private (0700) folder per job's files; a batch's id is
    its folder's path."""

    def __init__(self, root: Path) -> None:
        self._root = root

    def new_batch(self) -> str:
        self._root.mkdir(parents=True, exist_ok=True)
        return tempfile.mkdtemp(prefix="job-", dir=self._root)

    def writer(self, batch: str, name: str) -> UploadWriter:
        return _FileWriter(Path(batch) / name)

    @contextmanager
    def open(self, batch: str) -> Iterator[Path]:
        folder = Path(batch)
        if folder.is_dir():
            yield folder
            return
        with tempfile.TemporaryDirectory(prefix="upload-") as empty:
            yield Path(empty)

    def batches(self) -> list[str]:
        if not self._root.is_dir():
            return []
        return sorted(
            str(p) for p in self._root.iterdir() if p.is_dir() and p.name.startswith("job-")
        )

    def discard(self, batch: str) -> None:
        shutil.rmtree(batch, ignore_errors=True)


class _FileWriter:
    def __init__(self, path: Path) -> None:
        self._path = path
        self._file = path.open("wb")

    def write(self, data: bytes) -> None:
        self._file.write(data)

    def close(self) -> None:
        self._file.close()

    def abort(self) -> None:
        self._file.close()
        self._path.unlink(missing_ok=True)


class EmbeddedState:
    """Every port for one data dir, on local files."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir

    def registry(self) -> KbRegistry:
        return FileRegistry(self.data_dir)

    def catalog(self, kb: str, lexical: LexicalConfig) -> Catalog:
        """Raises:
        StoreError: The file is not a readable catalog (the message says how to rebuild)."""
        from rag.catalog import SqliteCatalog
        from rag.index import kb_catalog

        path = kb_catalog(self.data_dir, kb)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            return SqliteCatalog(path, lexical)
        except sqlite3.DatabaseError as exc:
            raise StoreError(
                f"the catalog of knowledge base {kb!r} ({path}) cannot be read: {exc}. Rebuild "
                f"the knowledge base's index from its sources: rag reindex --from-sources --kb {kb}"
            ) from exc

    def drop_catalog(self, kb: str) -> None:
        from rag.index import kb_catalog

        path = kb_catalog(self.data_dir, kb)
        for suffix in ("", "-wal", "-shm", "-journal"):
            path.with_name(path.name + suffix).unlink(missing_ok=True)
        if path.parent != self.data_dir:  # `default`'s catalog sits in the data dir itself
            shutil.rmtree(path.parent, ignore_errors=True)

    def copy_catalog(self, kb: str, into: StateBackend) -> None:
        from rag.index import kb_catalog

        if not isinstance(into, EmbeddedState):
            from rag.state.copy import copy_catalog

            copy_catalog(self, kb, into)
            return
        source, target = kb_catalog(self.data_dir, kb), kb_catalog(into.data_dir, kb)
        into.drop_catalog(kb)
        target.parent.mkdir(parents=True, exist_ok=True)
        # The backup API: a consistent snapshot even while a writer commits (not a file copy).
        with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(target)) as dst:
            src.backup(dst)

    def vector_cache(self, max_mb: int) -> VectorCache:
        from rag.embed.vector_cache import SqliteVectorCache

        return SqliteVectorCache(self.data_dir / "embeddings.sqlite", max_mb)

    def sources(self, kb: str) -> SourceLog:
        from rag.sources import SourceRecord, sources_path

        return SourceRecord(sources_path(self.data_dir, kb))

    def uploads(self) -> UploadStaging:
        return FolderStaging(self.data_dir / "uploads")

    def jobs(self) -> JobStore:
        from rag.state.sqlite_jobs import SqliteJobStore

        return SqliteJobStore(self.data_dir / "jobs.sqlite")

    @property
    def where(self) -> str:
        return str(self.data_dir)

    def close(self) -> None:
        """Nothing to release: each port opens and closes its own files."""
