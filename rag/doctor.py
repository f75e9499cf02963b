"""`rag doctor`: check one knowledge base's index for orphans, and repair them.

An index is four things that must agree: the catalog (documents, their chunk and summary
ids), the BM25 tables (one row per visible chunk and summary), the chunk collection and the
summary collection of the vector store. A writer keeps them in step (see `rag.catalog`), and
a writer killed mid-way leaves intents (`pending`) and ids to delete (`garbage`) that the next
writer clears. The checks here find everything else a crash, a full disk, a store restored
from an older backup or a hand edit can leave:

- `interrupted_writes`: intents of writes that never committed; their ids are removed from
  the stores (a writer does this when it opens the index, too).
- `garbage`: ids waiting for deletion; removed from the stores.
- `orphan_vectors`, `orphan_summaries`: chunks or summaries in the store that no document
  owns; removed from the store.
- `lexical_orphans`: BM25 rows of no visible chunk or summary; removed.
- `missing_lexical`: visible chunks without a BM25 row; rebuilt from the stored text.
- `missing_vectors`: visible chunks or summaries absent from the store, and
  `documents_without_chunks`: documents whose chunk rows are gone; the document is hidden,
  to be ingested again.

A document hidden by a repair loses its remembered file state, so the next `rag ingest` of
its folder parses it again.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field

from rag.index import Index
from rag.lexical.analyzer import contextual_text
from rag.lexical.bm25 import LexicalRow

__all__ = ["Checkup", "Finding", "check_index"]

_SHOWN = 5


@dataclass(frozen=True, slots=True)
class Finding:
    """One kind of inconsistency: how many, a few examples, whether it was repaired."""

    kind: str
    count: int
    examples: tuple[str, ...]
    repaired: bool = False

    def to_json(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "count": self.count,
            "examples": list(self.examples),
            "repaired": self.repaired,
        }


@dataclass(slots=True)
class Checkup:
    """The findings for one knowledge base (empty: consistent)."""

    kb: str
    findings: list[Finding] = field(default_factory=list)
    documents: int = 0
    chunks: int = 0

    @property
    def ok(self) -> bool:
        """Nothing found, or everything found was repaired."""
        return all(f.repaired for f in self.findings)

    def to_json(self) -> dict[str, object]:
        return {
            "kb": self.kb,
            "ok": self.ok,
            "documents": self.documents,
            "chunks": self.chunks,
            "findings": [f.to_json() for f in self.findings],
        }


def check_index(index: Index, kb: str, *, fix: bool = False) -> Checkup:
    """Check (and with `fix`, repair) one knowledge base's index.

    Raises:
        ConfigError: `fix` on an index opened for reading.
    """
    if fix:
        index.require_writer()
    catalog, (chunk_store, summary_store) = index.catalog, index.stores
    checkup = Checkup(kb, documents=index.count_documents(), chunks=index.count_chunks())
    report = _Reporter(checkup, fix)
    for kind, ids in index.recovered.items():  # removed when it was opened for writing
        if ids:
            checkup.findings.append(Finding(kind, len(ids), tuple(sorted(ids)[:_SHOWN]), True))
    # Other writers may be at work (the shared profile): the catalog is read before and
    # after the stores are scanned. A write records its intent before it writes the store,
    # so a row scanned that the later catalog does not know is an orphan; a chunk visible in
    # both and not scanned is missing (one replaced meanwhile is not).
    db = catalog.snapshot()
    report.add("interrupted_writes", db.pending, index.collect_garbage if fix else None)
    report.add("garbage", db.garbage - db.pending, index.collect_garbage if fix else None)
    stored_chunks = {c.chunk_id for batch, _ in chunk_store.scan() for c in batch}
    stored_summaries = {c.chunk_id for batch, _ in summary_store.scan() for c in batch}
    after = catalog.snapshot()
    waiting = after.pending | after.garbage
    orphans = stored_chunks - after.chunks - after.summaries - waiting
    report.add("orphan_vectors", orphans, lambda: chunk_store.delete(sorted(orphans)))
    lonely = stored_summaries - after.summaries - after.chunks - waiting
    report.add("orphan_summaries", lonely, lambda: summary_store.delete(sorted(lonely)))
    stale_chunks = db.lexical - db.chunks
    stale_summaries = db.summary_lexical - {db.owner[i] for i in db.summaries}
    report.add(
        "lexical_orphans",
        stale_chunks | stale_summaries,
        lambda: catalog.drop_lexical(stale_chunks, stale_summaries),
    )
    unindexed = db.chunks - db.lexical
    report.add("missing_lexical", unindexed, lambda: _reindex_terms(index, unindexed))
    missing = ((db.chunks & after.chunks) - stored_chunks) | (
        (db.summaries & after.summaries) - stored_summaries
    )
    broken = {db.owner[i] for i in missing if i in db.owner}
    empty = {d for d in db.documents if d in db.expects_chunks and d not in db.owners}
    report.add("missing_vectors", broken, lambda: _hide(index, broken))
    report.add("documents_without_chunks", empty - broken, lambda: _hide(index, empty - broken))
    return checkup


class _Reporter:
    def __init__(self, checkup: Checkup, fix: bool) -> None:
        self._checkup, self._fix = checkup, fix

    def add(self, kind: str, ids: Iterable[str], repair: Callable[[], object] | None) -> None:
        found = sorted(ids)
        if not found:
            return
        repaired = self._fix and repair is not None
        if repaired and repair is not None:
            repair()
        self._checkup.findings.append(Finding(kind, len(found), tuple(found[:_SHOWN]), repaired))


def _reindex_terms(index: Index, chunk_ids: Collection[str]) -> None:
    chunks = index.chunks(sorted(chunk_ids))
    rows = [
        LexicalRow(c.chunk_id, c.doc_id, index.analyzer.terms(contextual_text(c)))
        for c in chunks.values()
    ]
    index.catalog.add_lexical(rows)


def _hide(index: Index, doc_ids: Collection[str]) -> None:
    """Hide broken documents and forget their files, so the next ingest parses them again."""
    for doc_id in sorted(doc_ids):
        record = index.document(doc_id)
        index.delete_document(doc_id)
        if record is not None and record.file:
            index.forget_file(record.file)
