"""`rag eval beir`: index a BEIR corpus into its own index, run every query, report metrics.

The corpus goes into `<data_dir>/eval/<dataset name>/` (reused, and only changed documents
re-embedded, when run again). Each query runs through the configured retriever, exactly as
`rag ask` runs it, asking for enough chunks to rank 100 documents; a document scores as its
best chunk. Latency is per query, after models are loaded, measured twice: `p50`/`p95` as
`rag ask` runs a query (`retrieval.top_k` chunks), `*_eval_depth` for the deep run.

With a generation model configured, query rewriting runs as it does for `rag ask`; the
queries each question was searched with are in the report (`rewritten`).

Example:
    >>> with Runtime.open(load_config()) as runtime:  # doctest: +SKIP
    ...     report = evaluate_beir(runtime, Path("beir/scifact"))
    >>> report.metrics["ndcg@10"]  # doctest: +SKIP
    >>> report.metrics["ndcg@10"]  # doctest: +SKIP
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from eval.beir_folder import load_beir
from eval.metrics import evaluate, judged_queries
from eval.stats import percentile
from ingest.progress import NoProgress, Progress
from ingest.run import ingest_jsonl
from rag.compress import create_compressor
from rag.config import RagConfig, derive, relocated
from rag.knowledge_base import KnowledgeBase
from rag.lexical.analyzer import jieba_tokenizer
from rag.manifest import Manifest
from rag.runtime import Runtime
from rag.text import CJK_CHARS
from rag.types import Chunk, Hit

__all__ = [
    "CHUNKS",
    "DEPTH",
    "warm_up",
    "EvalReport",
    "RankedRun",
    "eval_config",
    "evaluate_beir",
    "run_queries",
]

DEPTH = 100  # documents ranked per query (Recall@100, MAP@100)
CHUNKS = 3 * DEPTH  # chunks asked for, so that DEPTH distinct documents remain


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
    rewritten: dict[str, list[str]] = field(default_factory=dict)
    # Per question, for the report folder (`--out`); not in `to_json()`.
    per_query: dict[str, dict[str, float]] = field(default_factory=dict, repr=False)
    questions: dict[str, str] = field(default_factory=dict, repr=False)
    relevant: dict[str, dict[str, int]] = field(default_factory=dict, repr=False)
    latency_by_query: dict[str, float] = field(default_factory=dict, repr=False)
    top: dict[str, list[Hit]] = field(default_factory=dict, repr=False)
    chunk_level: bool = False

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
            "rewritten": self.rewritten,
        }


def eval_config(config: RagConfig, dataset: str) -> RagConfig:
    """The configuration an evaluation runs with: its own index, deep enough candidates."""
    return relocated(
        config,
        f"eval/{dataset}",
        retrieval={"candidates": max(config.retrieval.candidates, CHUNKS)},
    )


def evaluate_beir(
    runtime: Runtime,
    folder: Path,
    split: str = "test",
    progress: Progress | None = None,
    compress: bool = False,
) -> EvalReport:
    """Ingest (or reuse) the corpus, run the split's queries, and compute the metrics.

    `runtime` gives the loaded model, the generation backend and the configuration under test;
    the corpus goes into its own index. With `compress`, the best `COMPRESSED` chunks go
    through the configured compressor first: a document whose chunks it drops loses its
    rank there.

    Raises:
        ConfigError: The folder is not a BEIR dataset.
        IndexMismatchError: The eval index was built with another model or chunker.
    """
    progress = progress or NoProgress()
    dataset = load_beir(folder, split)
    config = eval_config(runtime.config, dataset.name)
    with runtime.derived(config, write=True) as writer:
        deep = writer.kb(create="")
        ingested = ingest_jsonl(deep, dataset.corpus, prune=True, progress=progress)
        ranked = run_queries(deep, dataset.queries, compress, progress)
        # As `rag ask` runs a query: the user's own candidates, on the same index.
        asked = deep.with_config(derive(config, retrieval=runtime.config.retrieval))
        ranked.latencies = time_queries(asked, dataset.queries, compress)
        manifest = writer.state.registry().read()
    run = {
        q: list(dict.fromkeys(c.doc_id for c in chunks))[:DEPTH] for q, chunks in ranked.run.items()
    }
    report = ranked.report(
        dataset.name,
        split,
        evaluate(run, dataset.qrels),
        config,
        {"seconds": ingested.seconds, "chunks_written": ingested.chunks_written},
        manifest,
    )
    return ranked.detail(report, judged_queries(run, dataset.qrels), dataset.queries, dataset.qrels)


COMPRESSED = 10  # best chunks compressed per query in an evaluation


@dataclass(slots=True)
class RankedRun:
    """Each query's chunks in rank order, and the time each query took."""

    run: dict[str, list[Chunk]] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    deep_latencies: list[float] = field(default_factory=list)
    context_tokens: list[tuple[int, int]] = field(default_factory=list)
    queries: dict[str, list[str]] = field(default_factory=dict)  # when rewritten
    top: dict[str, list[Hit]] = field(default_factory=dict)  # the best hits, for reports

    def detail(
        self,
        report: EvalReport,
        per_query: dict[str, dict[str, float]],
        questions: dict[str, str],
        relevant: dict[str, dict[str, int]],
        chunk_level: bool = False,
    ) -> EvalReport:
        """The report with what the report folder shows per question."""
        report.per_query, report.questions, report.relevant = per_query, questions, relevant
        report.latency_by_query = dict(zip(questions, self.latencies, strict=False))
        report.top, report.chunk_level = self.top, chunk_level
        return report

    def report(
        self,
        name: str,
        split: str,
        metrics: dict[str, float],
        config: RagConfig,
        ingest: dict[str, float],
        manifest: Manifest | None,
    ) -> EvalReport:
        """The report for these metrics, with latency percentiles and context sizes."""
        latency = {
            "p50": percentile(self.latencies, 50, empty=0.0),
            "p95": percentile(self.latencies, 95, empty=0.0),
            "p50_eval_depth": percentile(self.deep_latencies, 50, empty=0.0),
            "p95_eval_depth": percentile(self.deep_latencies, 95, empty=0.0),
        }
        if self.context_tokens:
            before, after = np.mean(self.context_tokens, axis=0)
            metrics = {**metrics, "context_tokens": float(after), "tokens_before": float(before)}
        return EvalReport(
            dataset=name,
            split=split,
            queries=len(self.run),
            metrics=metrics,
            latency_ms=latency,
            config=config.model_dump(mode="json"),
            manifest=manifest.to_dict() if manifest else {},
            ingest=ingest,
            rewritten=self.queries,
        )


_CHINESE = re.compile(f"[{CJK_CHARS}]")


def warm_up(kb: KnowledgeBase, questions: Iterable[str]) -> None:
    """Load what is loaded on first use before anything is timed: jieba's dictionary when a
    question holds Chinese (about 0.8 s, else counted in the first Chinese query), the
    pipeline, and the first question searched and compressed end to end."""
    texts = [t for t in questions if t.strip()]
    if not texts:
        return
    if kb.config.lexical.chinese != "chars" and any(_CHINESE.search(t) for t in texts):
        jieba_tokenizer()
    pipeline = kb.pipeline
    hits = pipeline.search.retrieve(texts[0], kb.config.retrieval.top_k)
    pipeline.compressor.compress(texts[0], hits)


def run_queries(
    kb: KnowledgeBase, queries: dict[str, str], compress: bool, progress: Progress
) -> RankedRun:
    """Search every query as `rag ask` does (rewriting, retrieval, reranking), deep enough to
    rank `DEPTH` documents; with `compress`, the best chunks are compressed (not reordered:
    the order shown to a model is not a ranking)."""
    search = kb.pipeline.search
    compression = derive(kb.config.compression, reorder=False)
    compressor = create_compressor(compression, kb.embedder, kb.index.analyzer, kb.languages)
    tokens = kb.embedder.tokenizer
    warm_up(kb, queries.values())
    out = RankedRun()
    progress.start(len(queries), "querying")
    for query_id, text in queries.items():
        started = time.perf_counter()
        trace = search.trace(text, CHUNKS)
        hits = list(trace.hits)
        if len(trace.queries) > 1 or trace.queries[0] != text:
            out.queries[query_id] = list(trace.queries)
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
        out.top[query_id] = hits[:5]
        progress.advance(1)
    return out


def time_queries(kb: KnowledgeBase, queries: dict[str, str], compress: bool) -> list[float]:
    """Milliseconds per query as `rag ask` runs it: `retrieval.top_k` chunks from
    `retrieval.candidates` per search (and compression of those chunks, with `compress`)."""
    pipeline = kb.pipeline
    warm_up(kb, queries.values())
    latencies = []
    for text in queries.values():
        started = time.perf_counter()
        hits = pipeline.search.retrieve(text, kb.config.retrieval.top_k)
        if compress:
            pipeline.compressor.compress(text, hits)
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies
