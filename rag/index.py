"""The index of one knowledge base: vector store + document catalog + manifest entry,
opened for reading or writing.

Knowledge bases share a data dir, its store and its manifest; each has its own chunk and
summary collections, and its own catalog (documents, visibility, BM25 tables). `default`
keeps the names an index had before knowledge bases existed (`chunks`, `catalog.sqlite`),
so such an index opens as `default` as it is.

A writer holds an exclusive lock on `<data_dir>/write.lock`; a second writer fails fast with
the holder's process id. Visibility comes from the catalog (see `rag.catalog`), so a reader
never sees a half-written document.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

import numpy as np

from rag.catalog import DocRecord, DocWrite, SqliteCatalog
from rag.config import LexicalConfig, RagConfig, SummaryConfig, derive
from rag.embed.base import Embedder
from rag.errors import (
    ConfigError,
    IndexMismatchError,
    KnowledgeBaseNotFoundError,
)
from rag.faults import crash_point
from rag.lexical.analyzer import Analyzer, contextual_text
from rag.lexical.bm25 import LexicalRow
from rag.locks import WriterLock
from rag.manifest import DEFAULT_KB, LEXICAL_BEFORE, Manifest, check_manifest
from rag.postgres import InDatabase
from rag.rwlock import ReadWriteLock
from rag.sources import Sources
from rag.state.base import Catalog, KbRegistry, SourceLog, StateBackend
from rag.stores import EmptyStore, Filter, NativeLexicalStore, VectorStore, open_store
from rag.summary import ExtractiveSummarizer, Summarizer, summary_id
from rag.types import Chunk, Filters, Hit

__all__ = ["Index", "built_lexical", "contextual_text", "kb_catalog", "kb_collection", "kb_stores"]

logger = logging.getLogger(__name__)

STALLED_WRITE_S = 300.0


def kb_collection(collection: str, kb: str) -> str:
    """The chunk collection of knowledge base `kb` (its summaries: this + `_summaries`)."""
    return collection if kb == DEFAULT_KB else f"{collection}_kb_{kb}"


def built_lexical(config: RagConfig, manifest: Manifest) -> LexicalConfig:
    """The lexical settings of an index: its terms as it was built (the manifest), its
    scoring as configured. A setting added after the index was built reads as it was then
    (`LEXICAL_BEFORE`: an older index keeps Traditional characters as written)."""
    return derive(config.lexical, **{**LEXICAL_BEFORE, **manifest.lexical})


def kb_stores(
    config: RagConfig, manifest: Manifest, state: StateBackend
) -> tuple[VectorStore, VectorStore]:
    """The chunk and summary collections of knowledge base `config.kb`, opened: the one
    place a knowledge base's stores are opened (its index, a copy's target, a rebuild's
    clearing). Closing the first closes both (they share the connection)."""
    collection = kb_collection(config.store.collection, config.kb)
    store = derive(config.store, collection=collection)
    lexical = built_lexical(config, manifest)
    chunks = open_store(store, config.data_dir, manifest.embedder.dimension, lexical, state)
    return chunks, chunks.sibling(f"{collection}_summaries")


def kb_catalog(data_dir: Path, kb: str) -> Path:
    """The catalog file of knowledge base `kb`."""
    if kb == DEFAULT_KB:
        return data_dir / "catalog.sqlite"
    return data_dir / "kbs" / kb / "catalog.sqlite"


class Index:
    """Opened by `rag.runtime.Runtime.kb` (the one opener); closed with it."""

    def __init__(
        self,
        data_dir: Path,
        stores: tuple[VectorStore, VectorStore],
        catalog: Catalog,
        analyzer: Analyzer,
        lock: WriterLock | None,
        summarizer: Summarizer | None = None,
        sources: SourceLog | None = None,
    ) -> None:
        self.data_dir = data_dir
        self._sources = sources  # the writer's record of sources (rag.sources)
        self._store, self._summaries = stores
        self._summarizer = summarizer or ExtractiveSummarizer(SummaryConfig())
        self._catalog = catalog
        self._lock = lock
        self._rw = ReadWriteLock()
        # Another writer's intent is its own until it has stalled this long (concurrent
        # writers: a write's intent lives for its store upsert, seconds).
        self._stale_s = STALLED_WRITE_S if lock is not None and lock.concurrent else 0.0
        self.analyzer = analyzer
        # What interrupted writes had left (by kind: store ids), removed when opened to write.
        self.recovered: dict[str, list[str]] = {}

    @classmethod
    def open(
        cls,
        config: RagConfig,
        embedder: Embedder | None,
        state: StateBackend,
        *,
        lock: WriterLock | None = None,
        summarizer: Summarizer | None = None,
        create: str | None = None,
    ) -> Index:
        """Open the index of knowledge base `config.kb` in `config.data_dir`, its manifest
        and catalog from `state`.

        With `lock` (the data dir's write lock, a share of it now this index's to release),
        for writing: create or check the manifest, and finish any interrupted write;
        documents are summarized with `summarizer` (extractive by default). Without it, for
        reading: check the manifest; an index that does not exist yet is empty (every search
        finds nothing) and nothing is written. With `embedder` None the model is not checked
        (counts, deletes, copies: nothing that embeds); the dimension comes from the
        manifest. With `create` (a description), a writer creates the knowledge base when it
        does not exist yet.

        Raises:
            KnowledgeBaseNotFoundError: `config.kb` does not exist (and is not created).
            IndexMismatchError: The index was built with another model or chunker.
            ConfigError: A writer without an embedder on a new index.
        """
        data_dir, write = config.data_dir, lock is not None
        chunks: VectorStore | None = None
        try:
            manifest = _manifest(config, embedder, state.registry(), write, create)
            if manifest is None:  # a reader of a data dir nothing was ingested into
                return cls.empty(data_dir, config.lexical)
            stores = kb_stores(config, manifest, state)
            chunks = stores[0]
            lexical = built_lexical(config, manifest)
            catalog = state.catalog(config.kb, lexical)
            analyzer = Analyzer(lexical)
            summarizer = summarizer or ExtractiveSummarizer(config.summary)
            sources = _source_record(state.sources(config.kb), catalog) if write else None
            index = cls(data_dir, stores, catalog, analyzer, lock, summarizer, sources)
        except BaseException:
            if chunks is not None:
                chunks.close()  # and its sibling: they share the connection
            if lock is not None:
                lock.release()
            raise
        if write:
            pending, garbage = catalog.leftovers()
            if index.collect_garbage():
                index.recovered = {"interrupted_writes": pending, "garbage": garbage}
        return index

    @classmethod
    def empty(cls, data_dir: Path, lexical: LexicalConfig) -> Index:
        """A read-only index of nothing, for a data dir nothing was ingested into yet."""
        catalog = SqliteCatalog(None, lexical)
        return cls(data_dir, (EmptyStore(), EmptyStore()), catalog, Analyzer(lexical), None)

    def close(self) -> None:
        """Release the stores, the catalog and the write lock."""
        self._store.close()
        self._summaries.close()
        self._catalog.close()
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def __enter__(self) -> Index:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def writable(self) -> bool:
        """Whether this process holds the index's write lock."""
        return self._lock is not None

    def require_writer(self) -> None:
        """Raises:
        ConfigError: The index was opened for reading only."""
        if self._lock is None:
            raise ConfigError(
                f"the index in {self.data_dir} was opened for reading; open it with write=True"
            )

    @property
    def stores(self) -> tuple[VectorStore, VectorStore]:
        """(chunks, summaries)."""
        return self._store, self._summaries

    @property
    def catalog(self) -> Catalog:
        """The document catalog (read it; write through this class)."""
        return self._catalog

    # -- writing ------------------------------------------------------------------------

    def collect_garbage(self) -> int:
        """Remove from the store every id an interrupted or replaced write left behind (with
        concurrent writers, only the intents of writes stalled past `STALLED_WRITE_S`)."""

        def delete(ids: list[str]) -> None:
            logger.info("removing %d chunks left by an interrupted or replaced write", len(ids))
            self._store.delete(ids)
            self._summaries.delete(ids)

        return len(self._catalog.collect(delete, self._stale_s))

    def write_documents(
        self, docs: Sequence[tuple[DocRecord, Sequence[Chunk]]], vectors: np.ndarray
    ) -> None:
        """Write documents' chunks (vectors in the same order) and make each document
        visible whole: its old version stays visible until the new one is complete."""
        writes: list[DocWrite] = []
        summaries: list[Chunk] = []
        summary_vectors: list[np.ndarray] = []
        start = 0
        for record, chunks in docs:
            own = vectors[start : start + len(chunks)]
            start += len(chunks)
            lexical = [
                LexicalRow(c.chunk_id, c.doc_id, self.analyzer.terms(contextual_text(c)))
                for c in chunks
            ]
            if not chunks:
                writes.append(DocWrite(record, [], lexical))
                continue
            summary = self._summarizer.summarize(record.title, chunks, own)
            sid = summary_id(record.doc_id, record.version)
            first = chunks[0]
            summaries.append(
                Chunk(
                    sid,
                    record.doc_id,
                    record.version,
                    summary.text,
                    -1,
                    first.source,
                    None,
                    record.title,
                    0,
                )
            )
            summary_vectors.append(summary.vector)
            terms = self.analyzer.terms(summary.text)
            writes.append(DocWrite(record, [c.chunk_id for c in chunks], lexical, sid, terms))
        every = [c for _, chunks in docs for c in chunks]
        if self._sources is not None:
            self._sources.put(record for record, _ in docs)
        with self._one_transaction():
            self._catalog.begin(writes)
            if every:
                self._store.upsert(every, vectors)
            crash_point("mid_upsert")
            if summaries:
                self._summaries.upsert(summaries, np.stack(summary_vectors))
            crash_point("after_vectors")
            # Searches in this process see the commit whole: before it, or after it and the
            # removal of what it replaced.
            with self._rw.writing():
                self._catalog.commit(writes)
                crash_point("after_commit")
                self.collect_garbage()

    def _one_transaction(self) -> AbstractContextManager[object]:
        """With the catalog and the stores in one database (PostgreSQL with pgvector), one
        transaction for a write: its intent, chunk rows, vectors, postings and the removal
        of what it replaced commit together. Elsewhere the catalog's protocol alone keeps a
        write whole (intent, store writes, one catalog commit)."""
        catalog, stores = self._catalog, (self._store, self._summaries)
        if isinstance(catalog, InDatabase) and all(
            isinstance(s, InDatabase) and s.database is catalog.database for s in stores
        ):
            return catalog.database.transaction()
        return nullcontext()

    def delete_document(self, doc_id: str) -> bool:
        """Hide and then remove one document. False when it was not in the index."""
        if self._sources is not None:
            self._sources.removed(doc_id)
        with self._one_transaction(), self._rw.writing():
            removed = self._catalog.remove(doc_id)
            self.collect_garbage()
        return removed

    def drop(self) -> None:
        """Remove every chunk and summary (the collections themselves) and close the
        index: its knowledge base is being deleted.

        Raises:
            ConfigError: Opened for reading only.
        """
        self.require_writer()
        with self._rw.writing():
            self._store.drop()
            self._summaries.drop()
            if self._sources is not None:
                self._sources.remove()
            self.close()

    def set_file_state(self, file: str, sha256: str, size: int, mtime_ns: int) -> None:
        """Remember a file as ingested (its hash, size and mtime), to skip it next time."""
        if self._sources is not None:
            state = self._catalog.file_state(file)
            if state is None or state[0] != sha256:
                self._sources.file(file, sha256)
        self._catalog.set_file_state(file, sha256, size, mtime_ns)

    def record_sources(self) -> None:
        """Rewrite the source record from what the catalog holds (after a rebuild).

        Raises:
            ConfigError: Opened for reading only.
        """
        self.require_writer()
        if self._sources is not None:
            catalog = self._catalog
            self._sources.rewrite(Sources.of(catalog.documents(), catalog.file_states()))

    def forget_file(self, file: str) -> None:
        """Forget what was remembered of a file."""
        if self._sources is not None:
            self._sources.forgot(file)
        self._catalog.forget_file(file)

    def remember_failure(self, file: str, sha256: str, reasons: Sequence[tuple[str, str]]) -> None:
        """Remember that `file` failed at this content: (source, reason) per failed part."""
        self._catalog.remember_failure(file, sha256, reasons)

    # -- reading ------------------------------------------------------------------------

    def reading(self) -> AbstractContextManager[None]:
        """Hold for a whole search: writes in this process wait until it is done, so it
        sees each of them before or after, never half of one (re-entrant)."""
        return self._rw.reading()

    def file_state(self, file: str) -> tuple[str, int, int] | None:
        """(sha256, size, mtime_ns) recorded when `file` was last ingested."""
        return self._catalog.file_state(file)

    def failure(self, file: str) -> tuple[str, list[tuple[str, str]]] | None:
        """(sha256, [(source, reason)]) of the content `file` last failed at, if it did."""
        return self._catalog.failure(file)

    def document(self, doc_id: str) -> DocRecord | None:
        """The visible version of a document."""
        return self._catalog.get(doc_id)

    def documents(self, file: str | None = None) -> list[DocRecord]:
        """Every visible document, or those that came from `file`."""
        return self._catalog.documents(file)

    def chunk_ids(self, doc_id: str) -> list[str]:
        """The chunk ids of a document's visible version."""
        return self._catalog.chunk_ids(doc_id)

    def count_documents(self) -> int:
        """Visible documents."""
        return self._catalog.count_documents()

    def count_chunks(self) -> int:
        """Visible chunks."""
        return self._catalog.count_chunks()

    def search_lexical(
        self, query: str, k: int, doc_ids: Collection[str] | None = None
    ) -> list[tuple[str, float]]:
        """The `k` best (chunk id, BM25 score) pairs for `query`, best first; with `doc_ids`,
        only chunks of those documents. Only visible chunks are indexed."""
        return self._catalog.bm25.search(self.analyzer.terms(query), k, doc_ids)

    def lexical_ceiling(self, query: str) -> float:
        """The BM25 score no chunk reaches for `query` (`LexicalIndex.ceiling`)."""
        return self._catalog.bm25.ceiling(self.analyzer.terms(query))

    def search_summaries(
        self, vector: np.ndarray, k: int, doc_ids: Collection[str] | None = None
    ) -> list[tuple[str, float]]:
        """The `k` documents whose summary vectors are most similar: (doc id, cosine); with
        `doc_ids`, among those documents only."""
        if doc_ids is not None and not doc_ids:
            return []
        where = None if doc_ids is None else Filter("doc_id", "in", tuple(sorted(doc_ids)))
        hits = self._visible(
            lambda n: self._summaries.search_dense(vector, n, where), k, summaries=True
        )
        return [(h.chunk.doc_id, h.score) for h in hits]

    def search_summaries_lexical(
        self, query: str, k: int, doc_ids: Collection[str] | None = None
    ) -> list[tuple[str, float]]:
        """The `k` documents whose summary text best matches `query`: (doc id, BM25); with
        `doc_ids`, among those documents only."""
        return self._catalog.summary_bm25.search(self.analyzer.terms(query), k, doc_ids)

    def allowed(self, filters: Filters | None) -> frozenset[str] | None:
        """The ids of the visible documents `filters` allow; None when they allow all."""
        if filters is None or filters.empty:
            return None
        ids = self._catalog.doc_ids(filters.source_prefix)
        if filters.doc_ids is not None:
            ids &= set(filters.doc_ids)
        return frozenset(ids)

    def chunks(self, ids: Sequence[str]) -> dict[str, Chunk]:
        """The stored chunks with these ids, by id."""
        return {c.chunk_id: c for c in self._store.get(ids)}

    def vectors(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        """The stored vectors of the chunks with these ids, by id."""
        return self._store.vectors(ids)

    def search_native(
        self,
        query: str,
        vector: np.ndarray | None,
        k: int,
        *,
        candidates: int,
        rrf_k: int,
        filters: Filters | None = None,
    ) -> list[Hit]:
        """The `k` visible chunks for `query` from the store's own search: dense + BM25 fused
        by RRF in one request, or BM25 alone when `vector` is None.

        Raises:
            ConfigError: The store cannot search text itself (only Milvus can).
        """
        store = self._store
        if not isinstance(store, NativeLexicalStore):
            raise ConfigError(
                "retrieval.mode = native_hybrid needs a store that searches text itself: "
                "store.backend = milvus (or use retrieval.mode = hybrid)"
            )
        with self.reading():
            allowed = self.allowed(filters)
            if allowed is not None and not allowed:
                return []
            where = None if allowed is None else Filter("doc_id", "in", tuple(sorted(allowed)))

            def fetch(n: int) -> list[Hit]:
                if vector is None:
                    return store.search_lexical(query, n, where)
                return store.search_hybrid(
                    query, vector, n, candidates=max(candidates, n), rrf_k=rrf_k, where=where
                )

            return self._visible(fetch, k)

    def search(
        self, vector: np.ndarray, k: int, doc_ids: Collection[str] | None = None
    ) -> list[Hit]:
        """The `k` visible chunks most similar to `vector`, best first; with `doc_ids`, only
        chunks of those documents."""
        if doc_ids is not None and not doc_ids:
            return []
        where = None if doc_ids is None else Filter("doc_id", "in", tuple(sorted(doc_ids)))
        return self._visible(lambda n: self._store.search_dense(vector, n, where), k)

    def rank_dense(
        self, vector: np.ndarray, k: int, doc_ids: Collection[str] | None = None
    ) -> list[tuple[str, float]]:
        """Like `search`, (chunk id, cosine) pairs only, for a search whose chunks are
        fetched later (or known already)."""
        if doc_ids is not None and not doc_ids:
            return []
        where = None if doc_ids is None else Filter("doc_id", "in", tuple(sorted(doc_ids)))
        pairs = self._store.rank_dense(vector, k + len(self._catalog.invisible_ids()), where)
        visible = self._catalog.visible(i for i, _ in pairs)
        return [(i, s) for i, s in pairs if i in visible][:k]

    def _visible(
        self, fetch: Callable[[int], list[Hit]], k: int, *, summaries: bool = False
    ) -> list[Hit]:
        """The visibility rule, the one place it is written: a store hit is returned only
        when the catalog shows its chunk (or summary) as part of a visible document version
        (`rank_dense` applies the same rule to its id pairs).
        Ids of interrupted or replaced writes may sit in the store until the next writer
        removes them, so `fetch` is asked for that many more than `k`."""
        hits = fetch(k + len(self._catalog.invisible_ids()))
        shown = self._catalog.visible_summaries if summaries else self._catalog.visible
        visible = shown(h.chunk.chunk_id for h in hits)
        return [h for h in hits if h.chunk.chunk_id in visible][:k]


def _source_record(record: SourceLog, catalog: Catalog) -> SourceLog:
    """The writer's source record, started from the catalog for an index older than it."""
    if record.exists():
        record.compact()
    else:
        record.rewrite(Sources.of(catalog.documents(), catalog.file_states()))
    return record


def _manifest(
    config: RagConfig,
    embedder: Embedder | None,
    registry: KbRegistry,
    write: bool,
    create: str | None,
) -> Manifest | None:
    """The index's manifest, checked against the model and store (a new one written for
    a new index opened to write, the knowledge base added when `create`); None for a
    reader when there is no index yet."""
    data_dir = config.data_dir
    manifest = registry.read()
    if manifest is None and not write:
        if config.kb != DEFAULT_KB:
            raise _not_found(config.kb, data_dir, [])
        return None
    if manifest is None:
        if embedder is None:
            raise ConfigError(f"no index in {data_dir} yet; run `rag ingest PATH` first")
        manifest = registry.create(
            Manifest.new(embedder.fingerprint, config.chunker, config.lexical, config.store.backend)
        )
    if embedder is not None:
        build = (config.chunker, config.lexical) if write else None
        check_manifest(data_dir, manifest, embedder.fingerprint, build)
    if manifest.store != config.store.backend:
        raise IndexMismatchError(
            f"the index in {data_dir} is stored in {manifest.store}, but store.backend "
            f"is {config.store.backend}; set it back, or copy the index with "
            "`rag reindex --to CONFIG`"
        )
    if config.kb != DEFAULT_KB and config.kb not in manifest.kbs:
        if not (write and create is not None):
            raise _not_found(config.kb, data_dir, sorted(manifest.kbs))
        manifest = registry.put_kb(config.kb, create)
    return manifest


def _not_found(kb: str, data_dir: Path, known: list[str]) -> KnowledgeBaseNotFoundError:
    return KnowledgeBaseNotFoundError(
        f"no knowledge base {kb!r} in {data_dir} (there are: {', '.join(known) or 'none'}); "
        f"create it with `rag ingest --kb {kb} PATH` or POST /v1/kbs"
    )
