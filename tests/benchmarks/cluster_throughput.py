"""Throughput of the shared deployment on this machine: ingestion with 1 and 2 `rag worker`
processes, and questions with 1 and 2 `rag serve` processes, all on one PostgreSQL 18 with
pgvector (started here, `tests.support.postgres`).

Ingestion: SciFact's first DOCS documents (title and abstract, one text file each), uploaded
in jobs of 50 files through one API process into a fresh database (nothing reused), timed
from the first upload to the last job done. Questions: CLIENTS concurrent clients for SECONDS
each, SciFact's questions to `/v1/retrieve` (the default hybrid search, top 10), sent to one
API process, then spread over two. Each process loads its own model; on a 2-core machine two
processes share the same two cores, so the gain is bounded by them.

    python -m tests.benchmarks.cluster_throughput --docs 300 --seconds 30 --clients 8
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from tests.support.api_server import ApiServer
from tests.support.cluster import WorkerProcess
from tests.support.postgres import PostgresServer

SCIFACT = Path(os.environ.get("RAG_TEST_DATA", "../shared/data")) / "beir" / "scifact"


def _files(docs: int) -> list[tuple[str, bytes]]:
    out = []
    with (SCIFACT / "corpus.jsonl").open(encoding="utf-8") as handle:
        for line in itertools.islice(handle, docs):
            row = json.loads(line)
            out.append((f"{row['_id']}.txt", f"{row['title']}\n\n{row['text']}".encode()))
    return out


def _questions() -> list[str]:
    with (SCIFACT / "queries.jsonl").open(encoding="utf-8") as handle:
        return [json.loads(line)["text"] for line in handle][:300]


def ingest_rate(server: PostgresServer, work: Path, workers: int, docs: int) -> dict[str, Any]:
    """Documents per second with `workers` workers (a fresh database)."""
    settings = {"RAG_DATABASE__URL": server.fresh_database(), "RAG_STORE__BACKEND": "pgvector"}
    files = _files(docs)
    work.mkdir(parents=True, exist_ok=True)
    with ApiServer(work / "api" / "data", settings, log=work / "api.log") as api:
        pool = [
            WorkerProcess(work / f"w{n}", settings, "--poll", "0.2").start().wait_ready()
            for n in range(workers)
        ]
        try:
            with api.client(timeout=300) as client:
                started = time.monotonic()
                jobs = []
                for start in range(0, len(files), 50):
                    part = [("files", (n, b, "text/plain")) for n, b in files[start : start + 50]]
                    jobs.append(client.post("/v1/kbs/default/documents", files=part).json()["id"])
                while True:
                    states = [client.get(f"/v1/jobs/{j}").json()["state"] for j in jobs]
                    if all(s in ("done", "failed") for s in states):
                        break
                    time.sleep(0.5)
                seconds = time.monotonic() - started
                assert states.count("done") == len(jobs), states
        finally:
            for worker in pool:
                worker.stop()
    return {"workers": workers, "docs": docs, "seconds": seconds, "docs_per_s": docs / seconds}


def query_rate(apis: list[ApiServer], clients: int, seconds: float) -> dict[str, Any]:
    """Requests per second and latency of `/v1/retrieve`, clients spread over `apis`."""
    questions = _questions()
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client(n: int) -> None:
        api = apis[n % len(apis)]
        with httpx.Client(base_url=api.url, timeout=60) as http:
            for i in itertools.count(n):
                if time.monotonic() > stop:
                    return
                begun = time.monotonic()
                body = {"question": questions[i % len(questions)], "top_k": 10}
                ok = http.post("/v1/retrieve", json=body).status_code == 200
                with lock:
                    if ok:
                        latencies.append((time.monotonic() - begun) * 1000)
                    else:
                        errors[0] += 1

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    latencies.sort()
    return {
        "apis": len(apis),
        "clients": clients,
        "per_second": len(latencies) / seconds,
        "p50_ms": statistics.median(latencies),
        "p95_ms": latencies[int(0.95 * (len(latencies) - 1))],
        "errors": errors[0],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--docs", type=int, default=300)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args(argv)
    with PostgresServer.started() as server, tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        ingest = [ingest_rate(server, work / f"i{n}", n, args.docs) for n in (1, 2)]
        for row in ingest:
            print(
                f"ingest, {row['workers']} worker(s): {row['docs']} documents in "
                f"{row['seconds']:.1f} s, {row['docs_per_s']:.2f} documents/s",
                flush=True,
            )
        settings = {"RAG_DATABASE__URL": server.fresh_database(), "RAG_STORE__BACKEND": "pgvector"}
        files = _files(args.docs)
        with ApiServer(work / "q1" / "data", settings, log=work / "q1.log") as one:
            loader = WorkerProcess(work / "qw", settings, "--exit-when-idle", "--poll", "0.2")
            with one.client(timeout=300) as client:
                for start in range(0, len(files), 50):
                    part = [("files", (n, b, "text/plain")) for n, b in files[start : start + 50]]
                    client.post("/v1/kbs/default/documents", files=part)
            loader.start()
            assert loader.process is not None
            loader.process.wait(timeout=3600)
            with ApiServer(work / "q2" / "data", settings, log=work / "q2.log") as two:
                for apis in ([one], [one, two]):
                    row = query_rate(apis, args.clients, args.seconds)
                    print(
                        f"questions, {row['apis']} API process(es), {row['clients']} clients: "
                        f"{row['per_second']:.1f} requests/s, p50 {row['p50_ms']:.0f} ms, "
                        f"p95 {row['p95_ms']:.0f} ms, {row['errors']} errors",
                        flush=True,
                    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
