"""Slow benchmark (`pytest -m slow -s tests/benchmarks/test_store_scale.py`): 100 000 chunks
on Chroma embedded and on Milvus Lite, each backend in its own process (peak memory is per
process). Texts: SciFact abstract sentences, repeated with a perturbation word; vectors:
precomputed (random unit vectors around 200 topic centres, dimension 384), so the figures
are the store's, not the embedder's. Hybrid is Milvus's native dense + BM25 RRF, and on
Chroma what `retrieval.mode = hybrid` does: dense in Chroma, our SQLite BM25 tables, min-max
fusion, chunks fetched (top 10 of 100 candidates each). Queries are timed twice: in the
writing process right after the ingest (`writer`; its first search, which flushes Milvus
Lite, is timed alone), and after closing and reopening the store (`reader`: how `rag ask`
finds it after `rag ingest`). Printed, not asserted. `SCALE_CHUNKS` changes N.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]

_RUN = r"""
import json, resource, statistics, sys, time
from pathlib import Path
import sqlite3
import numpy as np
from rag.config import LexicalConfig, RetrievalConfig, StoreConfig
from rag.lexical.analyzer import Analyzer, contextual_text
from rag.lexical.bm25 import BM25Tables, LexicalRow
from rag.retrieve.hybrid import fuse
from rag.stores import NativeLexicalStore, open_store
from rag.text import split_sentences
from rag.types import Chunk

backend, corpus, folder, n = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4])
sentences = [
    s for line in corpus.open() for s in split_sentences(json.loads(line)["text"]) if len(s) > 40
]
rng = np.random.default_rng(0)
centres = rng.standard_normal((200, 384)).astype(np.float32)
def vectors(count):
    noise = rng.standard_normal((count, 384)).astype(np.float32)
    v = centres[rng.integers(0, 200, count)] + 0.6 * noise
    return v / np.linalg.norm(v, axis=1, keepdims=True)
def text(i):
    return f"{sentences[i % len(sentences)]} variant{i // len(sentences)}"
store = open_store(StoreConfig(backend=backend, collection="scale"), folder, 384)
# Without BM25 in the store, hybrid search is dense in the store + our BM25 tables (in
# SQLite, as the catalog keeps them), written with the chunks and fused by min-max.
local = not isinstance(store, NativeLexicalStore)
if local:
    analyzer, db = Analyzer(LexicalConfig()), sqlite3.connect(folder / "bm25.sqlite")
    bm25 = BM25Tables(db, "lex", LexicalConfig())
started = time.perf_counter()
for start in range(0, n, 1000):
    ids = range(start, min(n, start + 1000))
    chunks = [
        Chunk(f"c{i}", f"d{i // 10}", "v1", text(i), i % 10, f"doc{i // 10}.txt") for i in ids
    ]
    store.upsert(chunks, vectors(len(chunks)))
    if local:
        with db:
            bm25.add([LexicalRow(c.chunk_id, c.doc_id, analyzer.terms(contextual_text(c)))
                      for c in chunks])
ingest_s = time.perf_counter() - started
queries = vectors(100)
words = [sentences[int(i)].split()[:6] for i in rng.integers(0, len(sentences), 100)]
def timed(call):
    out = []
    for i in range(100):
        t = time.perf_counter(); call(i); out.append((time.perf_counter() - t) * 1000)
    out.sort()
    return round(statistics.median(out), 1), round(out[94], 1)
def local_hybrid(store, i):
    dense = [(h.chunk.chunk_id, h.score) for h in store.search_dense(queries[i], 100)]
    lexical = bm25.search(analyzer.terms(" ".join(words[i])), 100)
    store.get([cid for cid, _ in fuse({"dense": dense, "bm25": lexical}, RetrievalConfig())[:10]])
def measure(store):
    dense = timed(lambda i: store.search_dense(queries[i], 10))
    if local:
        hybrid = timed(lambda i: local_hybrid(store, i))
        return {"dense_p50_p95_ms": dense, "hybrid_p50_p95_ms": hybrid}
    def both(i):
        store.search_hybrid(" ".join(words[i]), queries[i], 10, candidates=100, rrf_k=60)
    return {"dense_p50_p95_ms": dense, "native_hybrid_p50_p95_ms": timed(both)}
t = time.perf_counter(); store.search_dense(queries[0], 10)
first_ms = round((time.perf_counter() - t) * 1000, 1)  # Milvus Lite flushes here
writer = measure(store)
t = time.perf_counter(); store.close(); close_s = time.perf_counter() - t
t = time.perf_counter()
store = open_store(StoreConfig(backend=backend, collection="scale"), folder, 384)
open_s = time.perf_counter() - t
reader = measure(store)
count = store.count()
store.close()
disk = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
print(json.dumps({"backend": backend, "chunks": count, "ingest_chunks_per_s": round(n / ingest_s),
    "first_search_after_ingest_ms": first_ms, "writer": writer,
    "close_s": round(close_s, 1), "reopen_s": round(open_s, 1), "reader": reader,
    "disk_mb": round(disk / 1e6, 1),
    "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}))
"""


@pytest.mark.parametrize("backend", ["chroma", "milvus"])
def test_store_at_scale(backend: str, scifact_dir: Path, tmp_path: Path) -> None:
    n = int(os.environ.get("SCALE_CHUNKS", "100000"))
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            _RUN,
            backend,
            str(scifact_dir / "corpus.jsonl"),
            str(tmp_path),
            str(n),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    print(f"\n{figures}")
    assert figures["chunks"] == n
