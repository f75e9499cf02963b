"""The crash harness: a real `rag ingest` killed with SIGKILL, and the index state compared.

`index_state` is what must be identical after a crash and a re-run to a clean run: the
visible documents (id, version, chunks), the chunk and summary ids in the stores, the BM25
rows, and the results of fixed queries (BM25 in order; dense as the top-5 set, since HNSW
graphs built in another order may tie differently). `partial_documents` lists documents
visible with chunks missing from the store: after any kill it must be empty.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from rag.config import DatabaseConfig, RagConfig, StoreConfig
from rag.embed import Embedder
from rag.faults import VARIABLE
from rag.state import open_state
from tests.support.app import index_of

__all__ = [
    "QUERIES",
    "config_for",
    "index_state",
    "kill_randomly",
    "partial_documents",
    "stray_rows",
    "run_ingest",
    "unrecorded",
    "write_corpus",
]

REPO = Path(__file__).resolve().parents[2]
QUERIES = (
    "how do I remove a document from the index",
    "vitamin D deficiency and bone density",
    "年假有几天",
    "gene expression in cancer cells",
)


def write_corpus(folder: Path, scifact: Path | None, n: int) -> Path:
    """The example guide plus `n` SciFact abstracts as text files (real text)."""
    folder.mkdir(parents=True, exist_ok=True)
    for file in sorted((REPO / "examples" / "guide").iterdir()):
        (folder / file.name).write_bytes(file.read_bytes())
    if scifact is not None:
        with (scifact / "corpus.jsonl").open(encoding="utf-8") as handle:
            for _, line in zip(range(n), handle, strict=False):
                row = json.loads(line)
                text = f"{row['title']}\n\n{row['text']}\n"
                (folder / f"scifact-{row['_id']}.txt").write_text(text, encoding="utf-8")
    return folder


def config_for(data_dir: Path, backend: str, database: str = "") -> RagConfig:
    """`pgvector` needs `database`: the URL of an empty PostgreSQL database; its BM25
    postings are packed every 200 postings, so that kills also land around packing."""
    return RagConfig(
        data_dir=data_dir,
        store=StoreConfig(backend=backend),
        database=DatabaseConfig(url=SecretStr(database), bm25_pack_at=200),
    )


def _command(
    config: RagConfig, folder: Path, kill_at: str | None
) -> tuple[list[str], dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAG_", VARIABLE))}
    env.update(
        RAG_DATA_DIR=str(config.data_dir),
        RAG_DATABASE__URL=config.database.url.get_secret_value(),
        RAG_STORE__BACKEND=config.store.backend,
        RAG_DATABASE__BM25_PACK_AT=str(config.database.bm25_pack_at),
        RAG_EMBEDDER__BATCH_SIZE="8",  # small batches: many writes to be killed between
        HF_HUB_OFFLINE="1",
    )
    if kill_at:
        env[VARIABLE] = kill_at
    return [sys.executable, "-m", "rag.cli", "ingest", "--quiet", str(folder)], env


def run_ingest(config: RagConfig, folder: Path, kill_at: str | None = None) -> int:
    """`rag ingest folder` to the end (or to its death at stage `kill_at`): its exit code."""
    command, env = _command(config, folder, kill_at)
    return subprocess.run(command, env=env, capture_output=True, timeout=900).returncode


def kill_randomly(config: RagConfig, folder: Path, rng: random.Random, longest_s: float) -> float:
    """Start `rag ingest` and SIGKILL it after a random time (at most `longest_s`), unless it
    finished first; returns when it was killed (or -1 when it ended by itself)."""
    command, env = _command(config, folder, None)
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    delay = rng.uniform(0, longest_s)
    try:
        process.wait(delay)
        return -1.0
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGKILL)
        process.wait()
        return delay


def _ingested(config: RagConfig) -> bool:
    """Whether anything was ingested into `config`'s index yet (its manifest exists)."""
    state = open_state(config)
    try:
        return state.registry().read() is not None
    finally:
        state.close()


def partial_documents(config: RagConfig, embedder: Embedder) -> list[str]:
    """Documents visible with chunks (or a summary) missing from the store."""
    if not _ingested(config):
        return []
    with index_of(config, embedder) as index:
        db = index.catalog.snapshot()
        chunks, summaries = index.stores
        present = {c.chunk_id for c in chunks.get(sorted(db.chunks))}
        present |= {c.chunk_id for c in summaries.get(sorted(db.summaries))}
        return sorted({db.owner[i] for i in (db.chunks | db.summaries) - present})


def stray_rows(config: RagConfig, embedder: Embedder) -> int:
    """Rows the stores hold beyond the visible chunks and summaries, plus intents and
    garbage the catalog holds: what a killed write left to clean up."""
    if not _ingested(config):
        return 0
    with index_of(config, embedder) as index:
        db = index.catalog.snapshot()
        chunks, summaries = index.stores
        extra = chunks.count() + summaries.count() - len(db.chunks) - len(db.summaries)
        return extra + len(db.pending) + len(db.garbage)


def unrecorded(config: RagConfig, embedder: Embedder) -> list[str]:
    """Visible documents (or ingested files) the source record does not hold: it is written
    ahead of the catalog, so after an ingest killed anywhere this must be empty (the record
    may hold a newer version than the catalog shows, never less)."""
    if not _ingested(config):
        return []
    state = open_state(config)
    try:
        held = state.sources(config.kb).read()
    finally:
        state.close()
    with index_of(config, embedder) as index:
        docs = [d.doc_id for d in index.documents() if d.doc_id not in held.docs]
        files = [f for f in index.catalog.file_states() if f not in held.files]
    return sorted(docs + files)


def index_state(config: RagConfig, embedder: Embedder) -> dict[str, Any]:
    """Everything a clean run and a crashed-then-re-run one must agree on."""
    with index_of(config, embedder) as index:
        chunks, summaries = index.stores
        db = index.catalog.snapshot()
        stored = sorted(c.chunk_id for batch, _ in chunks.scan() for c in batch)
        stored_summaries = sorted(c.chunk_id for batch, _ in summaries.scan() for c in batch)
        return {
            "documents": sorted((d.doc_id, d.version, d.n_chunks) for d in index.documents()),
            "chunk_ids": stored,
            "summary_ids": stored_summaries,
            "duplicates": len(stored) - len(set(stored)),
            "catalog_chunks": len(db.chunks),
            "lexical_rows": len(db.lexical),
            "bm25": {
                q: [(i, round(score, 6)) for i, score in index.search_lexical(q, 10)]
                for q in QUERIES
            },
            "dense_top5": {
                q: sorted(h.chunk.chunk_id for h in index.search(embedder.embed_query(q), 5))
                for q in QUERIES
            },
        }
