"""Rebuilding a knowledge base's index from its source record (`rag reindex --from-sources`),
for a catalog or a store that is lost or corrupt.

Two steps, both under the data dir's write lock:

1. `clear_index(config, state)` removes what is left of the knowledge base's index: its catalog
   (documents, visibility, BM25 tables, file states) and its chunk and summary collections.
   The manifest (model, chunker, analyzer) and the source record stay.
2. `rebuild(kb, held)` ingests again every recorded file that still exists (at its content
   now) and every recorded JSONL corpus, then rewrites the record from what the index holds.

What cannot come back is reported, not guessed: recorded files that are gone, and documents
that were uploaded or posted as text through the service (their bytes are not kept).

Example:
    >>> with Runtime.open(config, write=True) as runtime:  # doctest: +SKIP
    ...     held = clear_index(config, runtime.state)
    ...     report = rebuild(runtime.kb(create=""), held)
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from ingest.discover import display, key_path
from ingest.progress import Progress
from ingest.run import IngestReport, ingest_jsonl, ingest_paths
from rag.config import RagConfig
from rag.errors import StoreError
from rag.index import kb_stores
from rag.knowledge_base import KnowledgeBase
from rag.sources import Sources
from rag.state.base import StateBackend

__all__ = ["RebuildReport", "clear_index", "rebuild"]


@dataclass(slots=True)
class RebuildReport:
    """What a rebuild did and what it could not bring back."""

    ingested: list[IngestReport] = field(default_factory=list)
    files: int = 0  # recorded files (and corpora) found and ingested again
    changed: list[str] = field(default_factory=list)  # content differs from the record's
    missing: list[str] = field(default_factory=list)  # recorded files that are gone
    not_rebuildable: list[str] = field(default_factory=list)  # uploads and posted texts
    seconds: float = 0.0

    @property
    def documents(self) -> int:
        """Documents written by the rebuild."""
        return sum(r.count("parsed") for r in self.ingested)

    @property
    def failed(self) -> int:
        """Files (or members, or rows) that failed to parse."""
        return sum(r.count("failed") for r in self.ingested)


def clear_index(config: RagConfig, state: StateBackend) -> Sources:
    """Remove the catalog (from `state`) and the collections of knowledge base `config.kb`;
    the caller holds the write lock. Returns the source record, read before anything is
    removed.

    Raises:
        StoreError: There is no source record, or the store cannot be opened to drop the
            collections (the message says what to move aside).
    """
    data_dir, kb = config.data_dir, config.kb
    record = state.sources(kb)
    if not record.exists():
        raise StoreError(
            f"there is no source record for knowledge base {kb!r} ({record.where}); it is "
            "written by every ingest from this version on. Ingest the files again instead: "
            f"rag ingest --kb {kb} PATH"
        )
    held = record.read()
    state.drop_catalog(kb)
    manifest = state.registry().read()
    if manifest is None:
        return held  # no manifest: no store was ever written with this model
    try:
        chunks, summaries = kb_stores(config, manifest, state)
        try:
            summaries.drop()
            chunks.drop()
        finally:
            chunks.close()
    except Exception as exc:  # any backend's error: the store itself is unreadable
        raise StoreError(
            f"the {config.store.backend} store in {data_dir} cannot be opened to clear "
            f"knowledge base {kb!r} ({type(exc).__name__}: {exc}). Move the store's files "
            "aside (for the embedded stores: the chroma/ folder or the milvus .db file in "
            "the data dir), then run `rag reindex --from-sources --kb NAME` for each "
            "knowledge base"
        ) from exc
    return held


def rebuild(kb: KnowledgeBase, held: Sources, progress: Progress | None = None) -> RebuildReport:
    """Ingest into `kb` (opened for writing, on a cleared index) every source `held` names
    that still exists; then record what the index now holds."""
    started = time.monotonic()
    report = RebuildReport()
    docs = held.docs.values()
    files = sorted(set(held.files) | {d.file for d in docs if d.file and d.from_file})
    corpora = sorted({d.file for d in docs if d.file and not d.from_file} - set(files))
    report.not_rebuildable = sorted(d.source for d in docs if d.file is None)
    present = [f for f in files if key_path(f).is_file()]
    report.missing = [display(key_path(f)) for f in files if f not in present]
    if present:
        paths = [key_path(f) for f in present]
        report.ingested.append(ingest_paths(kb, paths, progress=progress))
    for corpus in corpora:
        if Path(corpus).is_file():
            report.ingested.append(ingest_jsonl(kb, Path(corpus), progress=progress))
            present.append(corpus)
        else:
            report.missing.append(display(Path(corpus)))
    report.files = len(present)
    for key in present:
        state = kb.index.file_state(key)
        if key in held.files and state is not None and state[0] != held.files[key]:
            report.changed.append(display(key_path(key)))
    kb.index.record_sources()
    report.seconds = time.monotonic() - started
    return report
