"""`rag eval beir`: index a BEIR corpus into its own index, run every query, report metrics.

The corpus goes into `<data_dir>/eval/<dataset name>/` (reused, and only changed documents
re-embedded, when run again). Each query runs through the configured retriever, exactly as
`rag ask` runs it, asking for enough chunks to rank 100 documents; a document scores as its
best chunk. Latency is per query, after models are loaded, measured twice: `p50`/`p95` as
`rag ask` runs a query (`retrieval.top_k` chunks), `*_eval_depth` for the deep run.

Example:
    >>> report = evaluate_beir(load_config(), Path("beir/scifact"))  # doctest: +SKIP
    >>> report.metrics["ndcg@10"]  # doctest: +SKIP
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from eval.beir import load_beir
from eval.metrics import evaluate
from ingest.progress import NoProgress, Progress
from ingest.run import ingest_jsonl
from rag.compress import create_compressor
from rag.config import RagConfig
from rag.embed import create_embedder
from rag.embed.base import Embedder
from rag.index import Index
from rag.manifest import read_manifest
from rag.retrieve import create_search, embedder_languages
from rag.types import Chunk

__all__ = ["DEPTH", "EvalReport", "RankedRun", "eval_config", "evaluate_beir", "run_queries"]

DEPTH = 100  # documents ranked per query (Recall@100, MAP@100)
_CHUNKS = 3 * DEPTH  # chunks asked for, so that DEPTH distinct documents remain


@dataclass(slots=True)
class EvalReport:
    """Metrics, latency and what produced them; `to_json()` is the `--json` file."""

    dataset: str
    split: str
    queries: int
    metrics: dict[str, float]
    latency_ms: dict[str, float]
    config: dict[str, Any]
    manifest: dict[str, Any]
    ingest: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The report as JSON-ready data."""
        return {
            "dataset": self.dataset,
            "split": self.split,
            "queries": self.queries,
            "metrics": self.metrics,
            "latency_ms": self.latency_ms,
            "config": self.config,
            "manifest": self.manifest,
            "ingest": self.ingest,
        }


def eval_config(config: RagConfig, dataset: str) -> RagConfig:
    """The configuration an evaluation runs with: its own index, deep enough candidates."""
    retrieval = config.retrieval.model_copy(
        update={"candidates": max(config.retrieval.candidates, _CHUNKS)}
    )
    return config.model_copy(
        update={"data_dir": config.data_dir / "eval" / dataset, "retrieval": retrieval}
    )


def evaluate_beir(
    config: RagConfig,
    folder: Path,
    split: str = "test",
    progress: Progress | None = None,
    compress: bool = False,
) -> EvalReport:
    """Ingest (or reuse) the corpus, run the split's queries, and compute the metrics.

    With `compress`, the best `COMPRESSED` chunks go through the configured compressor
    first: a document whose chunks it drops loses its rank there.

    Raises:
        ConfigError: The folder is not a BEIR dataset.
        IndexMismatchError: The eval index was built with another model or chunker.
    """
    progress = progress or NoProgress()
    dataset = load_beir(folder, split)
    user, config = config, eval_config(config, dataset.name)
    ingested = ingest_jsonl(config, dataset.corpus, prune=True, progress=progress)
    embedder = create_embedder(config.embedder)
    embedder.warm_up()
    with Index.open(config, embedder, write=False) as index:
        ranked = run_queries(config, index, embedder, dataset.queries, compress, progress)
        ranked.latencies = time_queries(user, index, embedder, dataset.queries, compress)
    run = {
        q: list(dict.fromkeys(c.doc_id for c in chunks))[:DEPTH] for q, chunks in ranked.run.items()
    }
    return ranked.report(
        dataset.name,
        split,
        evaluate(run, dataset.qrels),
        config,
        {"seconds": ingested.seconds, "chunks_written": ingested.chunks_written},
    )


COMPRESSED = 10  # best chunks compressed per query in an evaluation


@dataclass(slots=True)
class RankedRun:
    """Each query's chunks in rank order, and the time each query took."""

    run: dict[str, list[Chunk]] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    deep_latencies: list[float] = field(default_factory=list)
    context_tokens: list[tuple[int, int]] = field(default_factory=list)

    def report(
        self,
        name: str,
        split: str,
        metrics: dict[str, float],
        config: RagConfig,
        ingest: dict[str, float],
    ) -> EvalReport:
        """The report for these metrics, with latency percentiles and context sizes."""
        latency = {
            "p50": _percentile(self.latencies, 50),
            "p95": _percentile(self.latencies, 95),
            "p50_eval_depth": _percentile(self.deep_latencies, 50),
            "p95_eval_depth": _percentile(self.deep_latencies, 95),
        }
        if self.context_tokens:
            before, after = np.mean(self.context_tokens, axis=0)
            metrics = {**metrics, "context_tokens": float(after), "tokens_before": float(before)}
        manifest = read_manifest(config.data_dir)
        return EvalReport(
            dataset=name,
            split=split,
            queries=len(self.run),
            metrics=metrics,
            latency_ms=latency,
            config=config.model_dump(mode="json"),
            manifest=manifest.to_dict() if manifest else {},
            ingest=ingest,
        )


def run_queries(
    config: RagConfig,
    index: Index,
    embedder: Embedder,
    queries: dict[str, str],
    compress: bool,
    progress: Progress,
) -> RankedRun:
    """Search every query as `rag ask` does (rewriting, retrieval, reranking), deep enough to
    rank `DEPTH` documents; with `compress`, the best chunks are compressed (not reordered:
    the order shown to a model is not a ranking)."""
    languages = embedder_languages(config, embedder)
    search = create_search(config, index, embedder, languages)
    compression = config.compression.model_copy(update={"reorder": False})
    compressor = create_compressor(compression, embedder, index.analyzer, languages)
    tokens = embedder.tokenizer
    search.retrieve("warm-up query", 1)
    out = RankedRun()
    progress.start(len(queries), "querying")
    for query_id, text in queries.items():
        started = time.perf_counter()
        hits = search.retrieve(text, _CHUNKS)
        if compress:
            head = hits[:COMPRESSED]
            kept = compressor.compress(text, head)
            out.context_tokens.append(
                (
                    sum(tokens.count([h.chunk.text for h in head])),
                    sum(tokens.count([h.chunk.text for h in kept])),
                )
            )
            hits = kept + hits[COMPRESSED:]
        out.deep_latencies.append((time.perf_counter() - started) * 1000)
        out.run[query_id] = [h.chunk for h in hits]
        progress.advance(1)
    return out


def time_queries(
    config: RagConfig, index: Index, embedder: Embedder, queries: dict[str, str], compress: bool
) -> list[float]:
    """Milliseconds per query as `rag ask` runs it: `retrieval.top_k` chunks from
    `retrieval.candidates` per search (and compression of those chunks, with `compress`)."""
    languages = embedder_languages(config, embedder)
    search = create_search(config, index, embedder, languages)
    compressor = create_compressor(config.compression, embedder, index.analyzer, languages)
    search.retrieve("warm-up query", 1)
    latencies = []
    for text in queries.values():
        started = time.perf_counter()
        hits = search.retrieve(text, config.retrieval.top_k)
        if compress:
            compressor.compress(text, hits)
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else 0.0
