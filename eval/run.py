"""`rag eval beir`: index a BEIR corpus into its own index, run every query, report metrics.

The corpus goes into `<data_dir>/eval/<dataset name>/` (reused, and only changed documents
re-embedded, when run again). Each query runs through the configured retriever, exactly as
`rag ask` runs it, asking for enough chunks to rank 100 documents; a document scores as its
best chunk. Latency is per query, after models are loaded.

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
from rag.config import RagConfig
from rag.embed import create_embedder
from rag.index import Index
from rag.manifest import read_manifest
from rag.retrieve import create_retriever

__all__ = ["DEPTH", "EvalReport", "evaluate_beir", "eval_config"]

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
    config: RagConfig, folder: Path, split: str = "test", progress: Progress | None = None
) -> EvalReport:
    """Ingest (or reuse) the corpus, run the split's queries, and compute the metrics.

    Raises:
        ConfigError: The folder is not a BEIR dataset.
        IndexMismatchError: The eval index was built with another model or chunker.
    """
    progress = progress or NoProgress()
    dataset = load_beir(folder, split)
    config = eval_config(config, dataset.name)
    ingested = ingest_jsonl(config, dataset.corpus, prune=True, progress=progress)
    embedder = create_embedder(config.embedder)
    embedder.warm_up()
    run: dict[str, list[str]] = {}
    latencies: list[float] = []
    with Index.open(config, embedder, write=False) as index:
        retriever = create_retriever(config, index, embedder)
        retriever.retrieve("warm-up query", 1)
        progress.start(len(dataset.queries), "querying")
        for query_id, text in dataset.queries.items():
            started = time.perf_counter()
            hits = retriever.retrieve(text, _CHUNKS)
            latencies.append((time.perf_counter() - started) * 1000)
            run[query_id] = list(dict.fromkeys(h.chunk.doc_id for h in hits))[:DEPTH]
            progress.advance(1)
    manifest = read_manifest(config.data_dir)
    return EvalReport(
        dataset=dataset.name,
        split=split,
        queries=len(dataset.queries),
        metrics=evaluate(run, dataset.qrels),
        latency_ms={
            "p50": float(np.percentile(latencies, 50)) if latencies else 0.0,
            "p95": float(np.percentile(latencies, 95)) if latencies else 0.0,
        },
        config=config.model_dump(mode="json"),
        manifest=manifest.to_dict() if manifest else {},
        ingest={"seconds": ingested.seconds, "chunks_written": ingested.chunks_written},
    )
