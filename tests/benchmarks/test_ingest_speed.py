"""Slow benchmarks (run with `pytest -m slow -s`): they print figures, they do not time-assert.

- SciFact: `ingest_jsonl` wall time and chunks/s, next to the bare model encoding the very same
  chunk texts with `SentenceTransformer.encode` in the same process (the ratio is the overhead
  of parsing JSON, chunking, hashing and writing Chroma + catalog).
- shared/data/docs: every text-bearing file parses; the per-format table; a rerun writes nothing.
"""

from __future__ import annotations

import collections
import time
from pathlib import Path

import pytest

from rag.config import RagConfig
from rag.index import Index
from tests.support.app import index_of, ingest, ingest_corpus

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]

# Files in shared/data/docs that hold no text: empty, whitespace-only, password-protected.
NOT_TEXT_BEARING = {
    "empty.txt",
    "fake-text-all-whitespace.txt",
    "empty.eml",
    "password.pdf",
    "password_protected.xlsx",
}


def test_scifact_ingest_speed(tmp_path: Path, scifact_dir: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    config = RagConfig(data_dir=tmp_path / "index")
    report = ingest_corpus(config, scifact_dir / "corpus.jsonl")
    assert report.exit_code == 0
    with index_of(config, embedder) as index:
        texts = [c.text for c in index._store.get(_all_ids(index))]
    assert len(texts) == report.chunks_written

    model = embedder._model  # the bare SentenceTransformer, as a user would call it
    started = time.perf_counter()
    model.encode(texts, batch_size=64, normalize_embeddings=True, show_progress_bar=False)
    bare = time.perf_counter() - started
    print(
        f"\nSciFact: {report.count('parsed')} docs, {report.chunks_written} chunks, "
        f"ingest {report.seconds:.1f} s ({report.chunks_written / report.seconds:.1f} chunks/s); "
        f"bare encode of the same chunks {bare:.1f} s "
        f"({len(texts) / bare:.1f} chunks/s); ingest/encode = {report.seconds / bare:.2f}"
    )
    again = ingest_corpus(config, scifact_dir / "corpus.jsonl")
    assert again.chunks_written == 0 and again.count("skipped") == report.count("parsed")
    print(f"SciFact rerun: nothing written, {again.seconds:.1f} s")


def _all_ids(index: Index) -> list[str]:
    return [i for d in index.catalog.documents() for i in index.catalog.chunk_ids(d.doc_id)]


def test_shared_docs_folder(tmp_path: Path, docs_dir: Path) -> None:
    config = RagConfig(data_dir=tmp_path / "index")
    report = ingest(config, [docs_dir])
    failed = {Path(r.source).name: r.reason for r in report.results if r.status == "failed"}
    table: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for result in report.results:
        name = result.source.split("!")[-1]
        table[Path(name).suffix.lower() or "(none)"][result.status] += 1
    print(f"\n{'format':8} parsed failed")
    for suffix in sorted(table):
        print(f"{suffix:8} {table[suffix]['parsed']:6} {table[suffix]['failed']:6}")
    for name, reason in sorted(failed.items()):
        print(f"failed: {name}: {reason}")
    print(
        f"{report.count('parsed')} parsed, {report.chunks_written} chunks in {report.seconds:.1f} s"
    )
    assert set(failed) == NOT_TEXT_BEARING
    again = ingest(config, [docs_dir])
    assert again.chunks_written == 0 and again.count("parsed") == 0
    print(f"rerun: nothing written, {again.seconds:.1f} s")
