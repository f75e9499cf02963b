"""The service's shared state, built once at startup (the app's lifespan) and closed at
shutdown: the runtime (`rag.runtime.Runtime`, opened as the one writer), the embedding batcher,
the concurrency gates and thread pool, the job worker, the key ring, the metrics."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from api.auth import Principal, Role
from api.errors import ApiError
from api.jobs import Job, JobQueue, Kind
from api.limits import Gate
from api.memory import MemoryTrimmer
from api.metrics import Metrics
from ingest.run import IngestReport
from rag.config import RagConfig
from rag.doctor import Checkup, check_index
from rag.embed import create_embedder
from rag.embed.batching import BatchingEmbedder
from rag.errors import IndexLockedError, ModelUnreachableError, RagError
from rag.lexical.analyzer import warm_up_chinese
from rag.locks import SERVER_NOTE
from rag.pipeline import RagPipeline
from rag.retrieve.routing import KbRouter
from rag.runtime import Runtime, shared_writes
from rag.state.base import JobStore, UploadStaging

__all__ = ["Services", "build_services", "write_server_note"]

logger = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass
class Services:
    """Everything a request handler uses."""

    config: RagConfig
    runtime: Runtime
    batcher: BatchingEmbedder
    metrics: Metrics
    generations: Gate
    searches: Gate
    executor: ThreadPoolExecutor
    jobs: JobQueue
    router: KbRouter
    trimmer: MemoryTrimmer
    staging: UploadStaging
    shared: bool = False  # the state and vectors are servers': `rag worker`s run the ingests
    started_at: float = field(default_factory=time.time)
    consistency: list[Checkup] | None = None  # `rag doctor` at start-up; None while it runs
    consistency_error: str = ""
    _model_check: tuple[float, str | None] = (0.0, None)

    def gate_for(self, pipeline: RagPipeline) -> Gate:
        """The concurrency gate an answer from `pipeline` waits at: generation when a model
        writes it, search when the answer is extractive."""
        return self.generations if pipeline.llm is not None else self.searches

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` in the service's thread pool (blocking work never runs on the loop)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, lambda: fn(*args))

    def authorize(self, principal: Principal | None, kb: str, role: Role) -> None:
        """Raises ApiError forbidden when `principal` may not `role` on `kb`."""
        if principal is not None and not principal.allows(kb, role):
            raise ApiError("forbidden", f"this key may not {role} on knowledge base {kb!r}")

    def model_problem(self) -> str | None:
        """Why the configured model cannot answer now (None when it can), checked at most
        every 10 s."""
        backend = self.runtime.backend
        if backend is None:
            return None
        checked_at, problem = self._model_check
        if time.monotonic() - checked_at < 10.0:
            return problem
        if backend.breaker_open:
            problem = "the model circuit breaker is open after repeated failures"
        else:
            try:
                served = [m.name for m in backend.models()]
                problem = None if served else "the model server lists no model"
            except (ModelUnreachableError, RagError) as exc:
                problem = f"the model server does not answer: {exc}"
        self._model_check = (time.monotonic(), problem)
        self.metrics.breaker_open.set(1 if backend.breaker_open else 0)
        return problem

    def submit(self, job: Job) -> Job:
        """Queue a write for the writer.

        Raises:
            ApiError: index_locked, when this process is not the writer (another worker is).
        """
        if not self.runtime.writable:
            raise ApiError(
                "index_locked",
                "this server process does not hold the index's writer (another worker does); "
                "retry: the load balancer may send the request to the writer",
                {"Retry-After": "1"},
            )
        if self.shared and job.kind == "ingest":
            return self.jobs.hand_over(job)  # any `rag worker` takes it from the job store
        return self.jobs.submit(job)

    async def write(self, kb: str, kind: Kind, fn: Callable[[Job], IngestReport | None]) -> Job:
        """Run `fn` through the writer and wait for it (a delete, a knowledge base made or
        removed: quick writes the caller waits for)."""
        job = self.submit(Job(kb, kind, fn))
        await self.run(job.finished.wait)
        return job

    def check_consistency(self) -> None:
        """Run `rag doctor` on every knowledge base in the background: through the writer
        (repairing, as `--fix`) when this process is the writer, else read-only."""

        def work(job: Job | None = None) -> None:
            # With other writers at work (shared), report only: `rag doctor --fix` repairs.
            fix = self.runtime.writable and not self.shared
            try:
                names = sorted(self.runtime.kbs())
                self.consistency = [
                    check_index(self.runtime.kb(n).index, n, fix=fix) for n in names
                ]
            except Exception as exc:  # noqa: BLE001 - readiness reports it; serving goes on
                self.consistency_error = f"{type(exc).__name__}: {exc}"
                logger.exception("the start-up index check failed")
                return
            for checkup in self.consistency:
                for finding in checkup.findings:
                    logger.warning(
                        "index check, knowledge base %s: %s %d %s",
                        checkup.kb,
                        finding.kind,
                        finding.count,
                        "repaired" if finding.repaired else "found (run rag doctor --fix)",
                    )

        if self.runtime.writable and not self.shared:
            self.jobs.submit(Job("*", "check", work))
        else:
            self.executor.submit(work)

    def close(self) -> None:
        self.trimmer.close()
        self.jobs.close()
        self.executor.shutdown(wait=False, cancel_futures=True)
        self.batcher.close()
        self.runtime.close()


def write_server_note(data_dir: Path, url: str) -> Path:
    """`<data_dir>/server.json`: this server's process id and address, read by a command
    that finds the index locked (`rag.locks.WriteLock`) to say who holds it."""
    note = data_dir / SERVER_NOTE
    note.write_text(json.dumps({"pid": os.getpid(), "url": url}), encoding="utf-8")
    return note


def _torch_threads(config: RagConfig) -> int:
    """torch's intra-op threads: the configured number, else the cores this process may
    use (not the machine's: a container's share), so concurrent requests do not
    oversubscribe the CPU. Set only when torch runs a model here (the sentence_transformers
    embedder, a cross-encoder reranker): the onnx embedder needs no torch import."""
    threads = config.api.torch_threads or len(os.sched_getaffinity(0))
    if config.embedder.backend == "sentence_transformers" or config.reranker.backend != "none":
        import torch

        torch.set_num_threads(threads)
    return threads


def _open(config: RagConfig, embedder: BatchingEmbedder) -> Runtime:
    """The runtime as the writer, its configured knowledge base opened (an index of another
    model fails here, at start); with several workers (`api.workers` > 1), a worker that
    finds the writer taken serves reads."""
    try:
        runtime = Runtime.open(config, write=True, embedder=embedder)
    except IndexLockedError:
        if config.api.workers <= 1:
            raise
        logger.info("another worker is the writer; this one serves reads")
        runtime = Runtime.open(config, embedder=embedder)
    try:
        runtime.kb()
    except BaseException:
        runtime.close()
        raise
    return runtime


def _job_store(runtime: Runtime) -> JobStore | None:
    """The writer keeps its jobs in the state's job store; a read-only worker runs none."""
    return runtime.state.jobs() if runtime.writable else None


def build_services(config: RagConfig, metrics: Metrics | None = None) -> Services:
    """Build the components once: the model loaded (behind the batcher), the index opened
    as the one writer.

    Raises:
        IndexLockedError: Another process writes this data dir.
        ConfigError, ModelUnavailableError, IndexMismatchError: As `Runtime.open`.
    """
    api = config.api
    metrics = metrics or Metrics()
    threads = _torch_threads(config)
    if config.lexical.chinese != "chars":
        warm_up_chinese()  # jieba's dictionary, once, while the model loads
    embedder = create_embedder(config.embedder)
    embedder.warm_up()
    batcher = BatchingEmbedder(embedder, api.embed_batch_wait_ms / 1000, api.embed_max_batch)
    try:
        runtime = _open(config, batcher)
    except BaseException:
        batcher.close()
        raise
    logger.info("torch threads: %d; data dir %s", threads, config.data_dir)
    staging = runtime.state.uploads()
    shared = shared_writes(config)
    workers = api.max_concurrent_generations + api.max_concurrent_searches + 2
    gate = (api.queue_size, api.queue_timeout_s, metrics)
    metrics.watch_batcher(batcher.stats)
    services = Services(
        config=config,
        runtime=runtime,
        batcher=batcher,
        metrics=metrics,
        generations=Gate("generations", api.max_concurrent_generations, *gate),
        searches=Gate("searches", api.max_concurrent_searches, *gate),
        executor=ThreadPoolExecutor(workers, thread_name_prefix="rag-worker"),
        jobs=JobQueue(metrics, api.jobs_kept, _job_store(runtime), staging=staging, shared=shared),
        router=KbRouter(batcher, runtime.languages),
        trimmer=MemoryTrimmer(api.trim_memory_s),
        staging=staging,
        shared=shared,
    )
    services.check_consistency()
    return services
