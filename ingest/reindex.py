"""Copying an index to another store backend without embedding anything again, and the
figures `rag stats` prints.

`reindex(source, target)` copies the visible chunks and summaries with their vectors from
the source's stores to the target's, copies the catalog (document versions, BM25 tables)
and the manifest (with the new backend), then checks that the counts match. The target may
be another data_dir, or the same one with another store (Chroma to Milvus in place: the
catalog stays). The target collections must be empty. One knowledge base is copied at a
time (`source.config.kb`, into the same name): copy each one into the same target data dir.

Example:
    >>> with Runtime.open(load_config("rag.toml"), model=False) as runtime:  # doctest: +SKIP
    ...     report = reindex(runtime.kb(), load_config("milvus.toml"))
    >>> report.chunks, report.summaries  # doctest: +SKIP
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from ingest.progress import NoProgress, Progress
from rag.config import RagConfig, derive
from rag.errors import ConfigError, EmptyIndexError, StoreError
from rag.index import kb_collection, kb_stores
from rag.knowledge_base import KnowledgeBase
from rag.manifest import DEFAULT_KB, Manifest
from rag.runtime import Runtime
from rag.state import place_of
from rag.stores import VectorStore

__all__ = ["ReindexReport", "Stats", "reindex", "stats"]


@dataclass(frozen=True, slots=True)
class ReindexReport:
    """What was copied, and how long it took."""

    chunks: int
    summaries: int
    seconds: float


def _copy(
    source: VectorStore,
    target: VectorStore,
    visible: Callable[[Iterable[str]], set[str]],
    progress: Progress,
    total: int,
    label: str,
) -> int:
    """Copy the chunks `visible` keeps, a batch at a time; the number copied."""
    progress.start(total, label)
    copied = 0
    for chunks, vectors in source.scan():
        keep = visible(c.chunk_id for c in chunks)
        rows = [i for i, c in enumerate(chunks) if c.chunk_id in keep]
        if rows:
            target.upsert([chunks[i] for i in rows], vectors[rows])
            copied += len(rows)
            progress.advance(len(rows))
    return copied


def reindex(
    source: KnowledgeBase, target: RagConfig, progress: Progress | None = None
) -> ReindexReport:
    """Copy the index `source` holds open into the stores of `target`. Nothing is embedded:
    `source`'s runtime may be opened without the model (`Runtime.open(config, model=False)`).

    Raises:
        ConfigError: The target is the source, or its collections are not empty.
        StoreError: The counts after copying do not match.
    """
    bar = progress or NoProgress()
    config = source.config
    kb = config.kb
    same_dir = place_of(config) == place_of(target)  # the same catalog and manifest
    if same_dir and config.store == target.store:
        raise ConfigError("the target's [store] is the source's: nothing to copy to")
    manifest = source.runtime.state.registry().read()
    if manifest is None:
        raise EmptyIndexError(f"no index in {config.data_dir}; run `rag ingest PATH` first")
    others = sorted(set(manifest.kbs) - {kb, DEFAULT_KB})
    if same_dir and others:
        raise ConfigError(
            f"{config.data_dir} holds other knowledge bases ({', '.join(others)}) that would "
            "be left in the old store; copy each one (--kb NAME) into a new data_dir (or "
            "database) instead"
        )
    # The target's write lock and state (its manifest): the runtime a writer there opens.
    writer = Runtime.open(derive(target, kb=kb), write=True, model=False)
    try:
        return _copy_into(source, writer, manifest, same_dir, bar)
    finally:
        writer.close()


def _copy_into(
    source: KnowledgeBase, writer: Runtime, manifest: Manifest, same_dir: bool, bar: Progress
) -> ReindexReport:
    index, target, kb = source.index, writer.config, source.config.kb
    registry = writer.state.registry()
    existing = None if same_dir else registry.read()
    if existing is not None and (existing.embedder, existing.store) != (
        manifest.embedder,
        target.store.backend,
    ):
        raise ConfigError(
            f"{target.data_dir} already holds an index of another model or store; give the "
            "target an empty data_dir"
        )
    started = time.perf_counter()
    chunks, summaries = kb_stores(target, manifest, writer.state)
    try:
        if chunks.count() or summaries.count():
            raise ConfigError(
                f"the target collections already hold {chunks.count()} chunks and "
                f"{summaries.count()} summaries; use an empty collection"
            )
        catalog = index.catalog
        expected = (catalog.count_chunks(), catalog.count_documents())
        copied = _copy(index.stores[0], chunks, catalog.visible, bar, expected[0], "copying chunks")
        copied_summaries = _copy(
            index.stores[1],
            summaries,
            catalog.visible_summaries,
            bar,
            expected[1],
            "copying summaries",
        )
        if (chunks.count(), copied) != (expected[0], expected[0]) or (
            summaries.count() != copied_summaries
        ):
            raise StoreError(
                f"copy incomplete: the target holds {chunks.count()} chunks and "
                f"{summaries.count()} summaries; the source has {expected[0]} visible "
                f"chunks, of which {copied} were copied"
            )
        if not same_dir:
            source.runtime.state.copy_catalog(kb, writer.state)
        written = existing or replace(manifest, store=target.store.backend)
        entry = manifest.kbs.get(kb, {})
        written = written.with_kb(kb, entry.get("description", ""))
        registry.replace(written)
    finally:
        chunks.close()
    return ReindexReport(copied, copied_summaries, time.perf_counter() - started)


@dataclass(frozen=True, slots=True)
class Stats:
    """What `rag stats` prints."""

    where: str  # the data dir, or the database (state) it lives in
    backend: str
    uri: str
    collections: dict[str, int]
    documents: int
    model: str
    dimension: int
    disk_bytes: int


def stats(kb: KnowledgeBase) -> Stats:
    """Counts per collection, documents, model, dimension, backend and disk size, read from
    the open index and its manifest (no model needed: `Runtime.open(config, model=False)`).

    Raises:
        EmptyIndexError: No index in the data dir.
    """
    config, index = kb.config, kb.index
    manifest = kb.runtime.state.registry().read()
    if manifest is None:
        raise EmptyIndexError(f"no index in {config.data_dir}; run `rag ingest PATH` first")
    name = kb_collection(config.store.collection, config.kb)
    counts = {name: index.stores[0].count(), f"{name}_summaries": index.stores[1].count()}
    size = sum(f.stat().st_size for f in config.data_dir.rglob("*") if f.is_file())
    if config.store.uri and not config.store.uri.startswith(("http://", "https://")):
        lite = Path(config.store.uri).expanduser()
        if lite.exists() and not lite.is_relative_to(config.data_dir):
            size += sum(f.stat().st_size for f in lite.rglob("*") if f.is_file())
    in_database = config.store.backend == "pgvector"
    return Stats(
        kb.runtime.state.where,
        config.store.backend,
        config.store.uri or ("(the database)" if in_database else "(embedded, in data_dir)"),
        counts,
        index.count_documents(),
        manifest.embedder.name,
        manifest.embedder.dimension,
        size,
    )
