"""`rag worker`: run the ingestion jobs of a shared deployment (`ingest.worker`)."""

from __future__ import annotations

import argparse
import threading
from pathlib import Path
from typing import Any

from rag.cli.exit_codes import ExitCode
from rag.cli.output import err
from rag.config import RagConfig
from rag.errors import ConfigError
from rag.runtime import Runtime, shared_writes

__all__ = ["register"]


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add `rag worker` to the `rag` parser."""
    worker = sub.add_parser(
        "worker",
        help="run the ingestion jobs uploads create (shared deployments: database.url and a "
        "server store); run as many as you like, on any host",
        parents=[common],
    )
    worker.add_argument("--name", help="this worker's name in job records (default host:pid)")
    worker.add_argument(
        "--lease", type=float, default=60.0, help="seconds a silent worker keeps its job"
    )
    worker.add_argument("--poll", type=float, default=1.0, help="seconds between claims when idle")
    worker.add_argument(
        "--max-attempts",
        type=int,
        default=3,
        help="times a job may stop its worker (killed, hung) before it is failed",
    )
    worker.add_argument("--exit-when-idle", action="store_true", help="stop once no job is waiting")
    worker.add_argument(
        "--alive-file",
        type=Path,
        help="a file touched while the worker works (at least every 20 s): a liveness probe "
        "checks its age",
    )
    worker.set_defaults(handler=_worker)


def _worker(config: RagConfig, args: argparse.Namespace) -> int:
    from ingest.worker import Worker, worker_name

    if not shared_writes(config):
        raise ConfigError(
            "rag worker runs the jobs of a shared deployment: set database.url and keep the "
            "vectors in a server (store.backend = pgvector, or a Milvus server's store.uri); "
            "with the embedded default, rag serve runs its own jobs"
        )
    stop = threading.Event()
    with Runtime.open(config, write=True) as runtime:
        worker = Worker(
            runtime,
            args.name or worker_name(),
            args.lease,
            args.poll,
            args.max_attempts,
            alive_file=args.alive_file,
        )
        err.print(f"worker {worker.name}: jobs from {runtime.state.where}", markup=False)
        thread = threading.Thread(
            target=worker.run,
            args=(stop,),
            kwargs={"until_idle": args.exit_when_idle},
            name="rag-worker",
            daemon=True,
        )
        thread.start()
        try:
            while thread.is_alive():
                thread.join(0.5)
        except KeyboardInterrupt:
            stop.set()
            err.print("stopping: the running job is handed back (again to quit now)", markup=False)
            thread.join()
        finally:
            worker.close()
        err.print(f"worker {worker.name}: {worker.done} done, {worker.failed} failed", markup=False)
    return ExitCode.OK
