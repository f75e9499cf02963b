"""The ports for state that several processes may share (C13): one `typing.Protocol` per
kind of state, each with a conformance suite under `tests/rag/state/` that every
implementation passes unchanged.

| port | what it holds | embedded implementation |
| --- | --- | --- |
| `KbRegistry` | the manifest: model identity, chunker, store, knowledge bases | `manifest.json` |
| `VectorCache` | passage vectors by key, least recently used trimmed | `embeddings.sqlite` |
| `UploadStaging` | an upload's bytes while its job waits | `uploads/job-*` folders |
| `JobStore` | jobs: enqueue, claim with a lease, heartbeat, finish, unfinished | `jobs.sqlite` |
| `Catalog` | documents, their visibility, file state (`rag.catalog`) | `catalog.sqlite` |
| `LexicalIndex` | BM25 postings and statistics, search (`rag.lexical.bm25`) | `catalog.sqlite` |
| `SourceLog` | what an index can be rebuilt from (`rag.sources`) | `sources/<kb>.jsonl` |

A `StateBackend` opens each of them for one data dir (embedded) or one database schema
(`rag.state.postgres`, in tables of the same names); `rag.state.BACKENDS` names the
implementations (`state.backend`, chosen by `database.url` when empty).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np

if TYPE_CHECKING:
    from rag.catalog import CatalogSnapshot, DocRecord, DocWrite
    from rag.config import LexicalConfig
    from rag.lexical.bm25 import LexicalRow
    from rag.manifest import Manifest
    from rag.sources import Sources

__all__ = [
    "Catalog",
    "ClaimedJob",
    "JobRecord",
    "JobState",
    "JobStore",
    "KbRegistry",
    "LexicalIndex",
    "SourceLog",
    "StateBackend",
    "UploadStaging",
    "UploadWriter",
    "VectorCache",
]


class KbRegistry(Protocol):
    """The data dir's manifest: what its vectors were built with, and its knowledge bases.
    Every change is one read-modify-write that no concurrent change can lose."""

    def read(self) -> Manifest | None:
        """The manifest, or None before the first ingest."""
        ...

    def create(self, manifest: Manifest) -> Manifest:
        """Store `manifest` unless one exists; the stored one (the first writer's wins)."""
        ...

    def put_kb(self, name: str, description: str) -> Manifest:
        """Add knowledge base `name` (or change its description; its creation time stays).

        Raises:
            EmptyIndexError: There is no manifest yet.
        """
        ...

    def drop_kb(self, name: str) -> bool:
        """Remove knowledge base `name`; False when it was not there."""
        ...

    def replace(self, manifest: Manifest) -> None:
        """Store `manifest` in place of the current one (an index copied to another store)."""
        ...


class VectorCache(Protocol):
    """Vectors by key (a hash of model, backend, prefix and text), least recently used
    trimmed past its size."""

    def get(self, keys: Sequence[bytes]) -> dict[bytes, np.ndarray]:
        """The vectors of those keys it holds, each marked as used now."""
        ...

    def put(self, vectors: dict[bytes, np.ndarray]) -> None:
        """Keep these vectors (an existing key is overwritten)."""
        ...

    def __len__(self) -> int: ...

    def close(self) -> None: ...


class UploadWriter(Protocol):
    """One uploaded file being written into a batch."""

    def write(self, data: bytes) -> None: ...

    def close(self) -> None:
        """The file is complete."""
        ...

    def abort(self) -> None:
        """Drop what was written of this file."""
        ...


class UploadStaging(Protocol):
    """Where an upload's bytes wait for the job that ingests them (any worker's, on any
    host, when the state is shared)."""

    def new_batch(self) -> str:
        """A fresh batch (its id) for one job's files."""
        ...

    def writer(self, batch: str, name: str) -> UploadWriter:
        """Write file `name` of `batch`, streamed."""
        ...

    def open(self, batch: str) -> AbstractContextManager[Path]:
        """A private local folder holding the batch's complete files under their names, for
        the block (embedded: the batch folder itself; a database: a temporary copy). A
        discarded batch is an empty folder."""
        ...

    def batches(self) -> list[str]:
        """Every batch not yet discarded (a restarted server's jobs find theirs)."""
        ...

    def discard(self, batch: str) -> None:
        """Remove a batch and its files (idempotent)."""
        ...


JobState = Literal["queued", "running", "done", "failed"]


@dataclass(frozen=True, slots=True)
class JobRecord:
    """A job as stored: what it is, where it stands, what it produced."""

    id: str
    kb: str
    kind: str
    state: JobState
    created_at: float
    finished_at: float | None = None
    error: str | None = None
    results: tuple[dict[str, Any], ...] = ()
    redo: dict[str, Any] | None = None
    temp_dir: str | None = None  # the job's upload batch
    attempts: int = 0
    worker: str | None = None
    progress: dict[str, int] | None = None  # done/total steps, chunks embedded/found
    cancel: bool = False  # cancelling was asked while it ran


# A job row's columns, in the order `job_record` reads them (every job store's tables).
JOB_COLUMNS = (
    "id, kb, kind, state, created_at, finished_at, error, results, redo, temp_dir, attempts, "
    "worker, progress, cancel"
)


STALLED = (
    "its worker stopped {n} times while running it (killed, crashed, or hung past its "
    "lease); not tried again: check the worker's log, then retry the job"
)
ORPHANED = (
    "the process running it stopped (killed or crashed) before it finished, and no other "
    "process can run it; each document is written whole or not at all: send the request again"
)


def given_up(now: float, max_attempts: int) -> dict[str, Any]:
    """The parameters of a claim's first statement, which fails the running jobs whose
    lease ran out for good: being cancelled, out of attempts, or one no other process can
    run (no `redo`: a delete or knowledge-base change of the API process that stopped)."""
    return {
        "now": now,
        "max_attempts": max_attempts,
        "stalled": STALLED.format(n=max_attempts),
        "orphaned": ORPHANED,
    }


def job_values(job: JobRecord) -> tuple[Any, ...]:
    """A new job's (id, kb, kind, created_at, results, redo, temp_dir), JSON as text."""
    redo = json.dumps(job.redo) if job.redo is not None else None
    return (job.id, job.kb, job.kind, job.created_at, json.dumps(list(job.results)), redo,
            job.temp_dir)  # fmt: skip


def job_record(row: Sequence[Any], loads: Callable[[Any], Any]) -> JobRecord:
    """The job of a row read as `JOB_COLUMNS`; `loads` turns a stored JSON column (text in
    SQLite, already decoded in PostgreSQL) into its value."""
    results = loads(row[7]) or ()
    return JobRecord(
        id=str(row[0]),
        kb=str(row[1]),
        kind=str(row[2]),
        state=row[3],
        created_at=float(row[4]),
        finished_at=None if row[5] is None else float(row[5]),
        error=row[6],
        results=tuple(
            # the first release stored a result as a list of these fields
            r if isinstance(r, dict) else dict(zip(_RESULT_FIELDS, r, strict=True))
            for r in results
        ),
        redo=loads(row[8]) if row[8] else None,
        temp_dir=row[9],
        attempts=int(row[10]),
        worker=row[11],
        progress=loads(row[12]) if row[12] else None,
        cancel=bool(row[13]),
    )


_RESULT_FIELDS = ("source", "status", "chunks", "reason", "doc_id")


@dataclass(frozen=True, slots=True)
class ClaimedJob:
    """A job a worker holds until `lease_until` (it renews with `heartbeat`)."""

    job: JobRecord
    lease_until: float


class JobStore(Protocol):
    """Jobs and their queue: enqueued, claimed by one worker at a time under a lease, kept
    alive by heartbeats, finished; a job whose lease ran out is claimed again (attempts
    counted) until `max_attempts`, then failed with the reason, so a dead or hung worker's
    job never stays stuck. Claims are fair between knowledge bases: one with no job running
    (then the one served least recently) goes first, so a long upload to one knowledge base
    does not hold back another's."""

    def enqueue(self, job: JobRecord) -> None:
        """Store a new job as queued (idempotent on its id)."""
        ...

    def claim(
        self,
        worker: str,
        lease_s: float,
        now: float,
        job_id: str | None = None,
        max_attempts: int = 3,
    ) -> ClaimedJob | None:
        """A job, now held by `worker` (its attempts counted); None when there is none.
        Claimable: queued, or running with its lease run out; first those of a knowledge
        base with no job running, then of the one claimed from least recently, then the
        oldest. A job whose lease ran out after `max_attempts` attempts (or while being
        cancelled) is failed instead, with the reason. With `job_id`, that job only, and
        also when `worker` itself holds it (a worker started again under its name takes
        back what it was running). Without `job_id`, only jobs another process can run
        (with a `redo`); one without (a delete, a knowledge-base change) belongs to the
        process that queued it, which claims it by id, and is failed with the reason when
        that process stops holding its lease."""
        ...

    def heartbeat(self, job_id: str, worker: str, lease_s: float, now: float) -> bool:
        """Extend `worker`'s lease on `job_id`; False when the worker no longer holds it or
        the job is being cancelled (the worker stops it)."""
        ...

    def progress(
        self,
        job_id: str,
        results: Sequence[dict[str, Any]],
        counters: dict[str, int] | None = None,
    ) -> bool:
        """Record the results and progress counters so far of a running job; False when it
        is being cancelled (its worker stops it)."""
        ...

    def finish(
        self,
        job_id: str,
        worker: str,
        state: Literal["done", "failed"],
        error: str | None,
        results: Sequence[dict[str, Any]],
        now: float,
    ) -> bool:
        """Mark the job finished: a queued one by anyone (failed before it ran, at
        shutdown), a running one by the worker holding it. False (and nothing changed) when
        another worker holds it or it is finished already."""
        ...

    def release(self, job_id: str, worker: str) -> bool:
        """Hand a running job back to the queue (its worker is stopping): queued again at
        once, this attempt not counted; False when `worker` does not hold it."""
        ...

    def cancel(self, job_id: str, now: float) -> JobState | None:
        """Cancel a job: a queued one is failed now ("failed"); a running one is marked, its
        worker stops it at its next heartbeat ("running"); None when it is finished or
        unknown."""
        ...

    def retry(self, job_id: str) -> bool:
        """Queue a failed job again (attempts from zero); False when it is not failed."""
        ...

    def get(self, job_id: str) -> JobRecord | None: ...

    def unfinished(self) -> list[JobRecord]:
        """Queued and running jobs, oldest first."""
        ...

    def forget_finished(self, keep: int) -> list[str]:
        """Drop finished jobs beyond the `keep` most recent; the upload batches
        (`temp_dir`) of those dropped, for the caller to discard."""
        ...

    def close(self) -> None: ...


class LexicalIndex(Protocol):
    """BM25 postings and statistics of one collection (chunks or summaries)."""

    def add(self, rows: Sequence[LexicalRow]) -> None:
        """Index these rows (terms per chunk); an id indexed before is replaced."""
        ...

    def remove(self, chunk_ids: Collection[str]) -> None:
        """Unindex these ids (absent ones are ignored)."""
        ...

    def count(self) -> int: ...

    def rows(self, chunk_ids: Collection[str]) -> list[LexicalRow]:
        """The indexed terms of these chunks (each term as often as it occurs; their order
        is not kept): what copying the index elsewhere needs."""
        ...

    def search(
        self, terms: Sequence[str], k: int, doc_ids: Collection[str] | None = None
    ) -> list[tuple[str, float]]:
        """The best `k` (chunk id, BM25 score), higher first; within `doc_ids` when given."""
        ...

    def ceiling(self, terms: Sequence[str]) -> float:
        """The score no chunk can reach for these query terms: the sum of idf x (k1 + 1) x
        repeats (a term's part tends to that as its frequency grows), a term no chunk has
        counted at the highest idf (df 0: the question names something the corpus does
        not); 0 for an empty index. A score over it reads as the share of the question's
        weight a chunk matches, comparable across questions and corpora."""
        ...


class Catalog(Protocol):
    """Which version of each document is visible, with its chunk and summary ids and its
    BM25 rows, changed in one transaction per document (`rag.catalog`)."""

    @property
    def bm25(self) -> LexicalIndex:
        """The chunks' postings."""
        ...

    @property
    def summary_bm25(self) -> LexicalIndex:
        """The document summaries' postings (one row per document, keyed by its id)."""
        ...

    def get(self, doc_id: str) -> DocRecord | None: ...
    def documents(self, file: str | None = None) -> list[DocRecord]: ...
    def doc_ids(self, source_prefix: str | None = None) -> set[str]: ...
    def visible(self, chunk_ids: Iterable[str]) -> set[str]: ...
    def visible_summaries(self, summary_ids: Iterable[str]) -> set[str]: ...
    def chunk_ids(self, doc_id: str) -> list[str]: ...
    def count_documents(self) -> int: ...
    def count_chunks(self) -> int: ...
    def begin(self, writes: Sequence[DocWrite]) -> None: ...
    def commit(self, writes: Sequence[DocWrite]) -> None: ...
    def remove(self, doc_id: str) -> bool: ...
    def leftovers(self) -> tuple[list[str], list[str]]: ...
    def invisible_ids(self) -> list[str]: ...
    def add_lexical(self, rows: Sequence[LexicalRow]) -> None: ...
    def drop_lexical(
        self, chunk_ids: Collection[str], summary_doc_ids: Collection[str]
    ) -> None: ...
    def collect(self, delete: Callable[[list[str]], None], stale_s: float = 0.0) -> list[str]:
        """Remove from the stores (`delete`, called holding the knowledge base's write lock)
        what interrupted writes (intents older than `stale_s`) and replaced versions left;
        never an id that is visible or that a write still going on intends. Returns the ids
        removed."""
        ...

    def file_state(self, file: str) -> tuple[str, int, int] | None: ...
    def file_states(self) -> dict[str, str]: ...
    def file_rows(self) -> list[tuple[str, str, int, int]]:
        """Every file state: (file, sha256, size, mtime_ns)."""
        ...

    def failures(self) -> dict[str, tuple[str, list[tuple[str, str]]]]:
        """Every remembered failure: file -> (sha256, [(source, reason)])."""
        ...

    def set_file_state(self, file: str, sha256: str, size: int, mtime_ns: int) -> None: ...
    def remember_failure(
        self, file: str, sha256: str, reasons: Sequence[tuple[str, str]]
    ) -> None: ...
    def failure(self, file: str) -> tuple[str, list[tuple[str, str]]] | None: ...
    def forget_file(self, file: str) -> None: ...
    def snapshot(self) -> CatalogSnapshot: ...
    def close(self) -> None: ...


class SourceLog(Protocol):
    """A knowledge base's record of sources (`rag.sources`): written before the catalog
    commits each change, read to rebuild the index when its catalog or store is lost."""

    @property
    def where(self) -> str:
        """Where it is, for messages."""
        ...

    def exists(self) -> bool:
        """Whether a record has been started."""
        ...

    def read(self) -> Sources:
        """The record folded; an absent record holds nothing."""
        ...

    def put(self, docs: Iterable[DocRecord]) -> None:
        """Documents are about to be written."""
        ...

    def removed(self, doc_id: str) -> None:
        """A document is about to be removed."""
        ...

    def file(self, key: str, sha256: str) -> None:
        """A file is about to be recorded as ingested at this content."""
        ...

    def forgot(self, key: str) -> None:
        """A file is about to be forgotten."""
        ...

    def rewrite(self, held: Sources) -> None:
        """Replace the record by `held`, folded, atomically."""
        ...

    def compact(self) -> None:
        """Fold the record when it has grown to several times what is live."""
        ...

    def remove(self) -> None:
        """Delete the record (its knowledge base is deleted)."""
        ...


class StateBackend(Protocol):
    """Opens each port for one data dir (`rag.state.BACKENDS`)."""

    def registry(self) -> KbRegistry: ...
    def catalog(self, kb: str, lexical: LexicalConfig) -> Catalog: ...
    def drop_catalog(self, kb: str) -> None:
        """Remove knowledge base `kb`'s catalog and postings (idempotent)."""
        ...

    def copy_catalog(self, kb: str, into: StateBackend) -> None:
        """Copy knowledge base `kb`'s catalog and postings, as one consistent snapshot, into
        `into` (replacing what it holds for `kb`): `rag reindex` into another data dir."""
        ...

    def vector_cache(self, max_mb: int) -> VectorCache: ...
    def sources(self, kb: str) -> SourceLog:
        """Knowledge base `kb`'s record of sources."""
        ...

    def uploads(self) -> UploadStaging: ...
    def jobs(self) -> JobStore: ...

    @property
    def where(self) -> str:
        """Where the state is, for messages (a folder, or a database URL without its
        password)."""
        ...

    def close(self) -> None:
        """Release what the backend holds (a database's connection pool)."""
        ...
