"""Copying one knowledge base's catalog and postings from one state backend into another
(`rag reindex --to`, the embedded data dir into PostgreSQL), through the ports alone: each
batch of documents arrives whole, as an ingest would write it."""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

from rag.catalog import DocWrite
from rag.config import LexicalConfig

if TYPE_CHECKING:
    from rag.state.base import StateBackend

__all__ = ["copy_catalog"]

_BATCH = 200  # documents per transaction in the target


def copy_catalog(source_state: StateBackend, kb: str, into: StateBackend) -> None:
    """Replace what `into` holds for knowledge base `kb` with `source_state`'s catalog: the
    visible documents, their chunk and summary ids, their BM25 rows, file states and
    remembered failures. The source should not change meanwhile (the caller holds its
    write lock)."""
    into.drop_catalog(kb)
    source = source_state.catalog(kb, LexicalConfig())
    target = into.catalog(kb, LexicalConfig())
    try:
        snap = source.snapshot()
        chunks_of: defaultdict[str, list[str]] = defaultdict(list)
        for chunk_id in snap.chunks:
            chunks_of[snap.owner[chunk_id]].append(chunk_id)
        summary_of = {snap.owner[s]: s for s in snap.summaries}
        records = source.documents()
        for start in range(0, len(records), _BATCH):
            batch = records[start : start + _BATCH]
            ids = [c for r in batch for c in sorted(chunks_of[r.doc_id])]
            lexical: defaultdict[str, list] = defaultdict(list)
            for row in source.bm25.rows(ids):
                lexical[row.doc_id].append(row)
            summaries = {
                r.doc_id: r.terms for r in source.summary_bm25.rows([r.doc_id for r in batch])
            }
            writes = [
                DocWrite(
                    record,
                    sorted(chunks_of[record.doc_id]),
                    lexical[record.doc_id],
                    summary_of.get(record.doc_id),
                    summaries.get(record.doc_id, ()),
                )
                for record in batch
            ]
            target.begin(writes)
            target.commit(writes)
        for file, sha256, size, mtime_ns in source.file_rows():
            target.set_file_state(file, sha256, size, mtime_ns)
        for file, (sha256, reasons) in source.failures().items():
            target.remember_failure(file, sha256, reasons)
    finally:
        source.close()
        target.close()
