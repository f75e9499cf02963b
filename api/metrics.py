"""Prometheus metrics of one app (its own registry: two apps in a process never mix).

Requests by route template and status with latency histograms; retrieval, embedding and
generation latency; tokens; ingestion files, chunks and failures; the job queue's depth;
model errors and the circuit breaker's state; the concurrency gates' queues.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from rag.embed.batching import BatchStats

__all__ = ["Metrics"]

_LATENCY = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class Metrics:
    """The app's metrics; `render()` is the `/metrics` body."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = registry = CollectorRegistry()
        self.requests = Counter(
            "rag_http_requests", "HTTP requests", ["route", "method", "status"], registry=registry
        )
        self.request_seconds = Histogram(
            "rag_http_request_seconds",
            "HTTP request latency (until the response is complete)",
            ["route", "method"],
            buckets=_LATENCY,
            registry=registry,
        )
        self.stage_seconds = Histogram(
            "rag_stage_seconds",
            "Time in a pipeline stage: retrieval, compression, generation, routing",
            ["stage"],
            buckets=_LATENCY,
            registry=registry,
        )
        self.tokens = Counter(
            "rag_generation_tokens", "Tokens, prompt and completion", ["kind"], registry=registry
        )
        self.ingest_files = Counter(
            "rag_ingest_files",
            "Files and texts ingested, by outcome",
            ["status"],
            registry=registry,
        )
        self.ingest_chunks = Counter(
            "rag_ingest_chunks", "Chunks embedded and written", registry=registry
        )
        self.jobs_queued = Gauge(
            "rag_jobs_queue_depth", "Document jobs waiting or running", registry=registry
        )
        self.model_errors = Counter(
            "rag_model_errors", "Generation failures, by kind", ["kind"], registry=registry
        )
        self.degraded = Counter(
            "rag_degraded_answers",
            "Answers given extractively because the model failed",
            registry=registry,
        )
        self.cancelled = Counter(
            "rag_generations_cancelled",
            "Generations stopped because the client went away",
            registry=registry,
        )
        self.breaker_open = Gauge(
            "rag_model_breaker_open", "1 while the model circuit breaker is open", registry=registry
        )
        self.gate_waiting = Gauge(
            "rag_gate_waiting", "Requests waiting for a slot", ["gate"], registry=registry
        )
        self.gate_active = Gauge(
            "rag_gate_active", "Requests holding a slot", ["gate"], registry=registry
        )
        self.rejected = Counter(
            "rag_rejected", "Requests refused with 429", ["gate"], registry=registry
        )

    def watch_batcher(self, stats: BatchStats) -> None:
        """Export the embedding batcher's figures: model calls, texts, largest batch."""
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        class _Batcher:
            def collect(self) -> Iterator[Any]:
                yield CounterMetricFamily(
                    "rag_embedding_calls", "Embedding model calls made by the batcher", stats.calls
                )
                yield CounterMetricFamily(
                    "rag_embedding_texts", "Texts embedded through the batcher", stats.texts
                )
                yield GaugeMetricFamily(
                    "rag_embedding_largest_batch",
                    "Largest batch embedded in one call",
                    stats.largest,
                )

        self.registry.register(_Batcher())  # type: ignore[arg-type]

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    def observe_timings(self, timings_ms: dict[str, Any]) -> None:
        """Record an answer's step timings (`search`, `compress`, `generate`, ...)."""
        for stage, ms in timings_ms.items():
            self.stage_seconds.labels(stage).observe(float(ms) / 1000)
