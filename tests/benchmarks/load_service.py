"""Load figures for the service: 1, 8 and 32 concurrent clients against `/v1/query`
(extractive), `/v1/retrieve` and `/v1/chat/completions` (the tiny model on a real
llama.cpp server), on loopback, each for a bounded time.

Prints requests/s, p50/p95/p99 latency, errors, 429s and 5xx per endpoint and level, and
the server's resident memory at the start and the end, as a Markdown table (and JSON with
--json FILE). Not a test: the figures depend on the machine.

    python -m tests.benchmarks.load_service --seconds 60 --json load.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.support.api_server import ApiServer, rss_mb
from tests.support.llama import MODEL, free_port, start_server, wait_ready
from tests.support.tiny_gguf import write_tiny_llama

REPO = Path(__file__).resolve().parents[2]
GUIDE = REPO / "examples" / "guide"
DATA = REPO / "tests" / "api" / "data"
QUESTIONS = [
    "How do I remove a document from the index?",
    "How many days of annual leave carry over?",
    "How do I reset my VPN token?",
    "What does rag ingest do with unchanged files?",
    "When are salaries paid?",
    "如何删除文档？",
]


@dataclass
class Level:
    endpoint: str
    clients: int
    seconds: float
    requests: int
    per_second: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    errors: int
    rejected_429: int
    server_errors: int


def _body(endpoint: str, n: int) -> dict[str, Any]:
    question = QUESTIONS[n % len(QUESTIONS)]
    if endpoint == "/v1/query":
        return {"question": question, "kb": "auto", "generation": "none"}
    if endpoint == "/v1/retrieve":
        return {"question": question, "kb": ["default", "hr", "it"]}
    return {
        "model": "rag:auto",
        "messages": [{"role": "user", "content": question}],
        "max_tokens": 16,
        "temperature": 0.7,
    }


def _quantile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _run(url: str, endpoint: str, clients: int, seconds: float) -> Level:
    latencies: list[float] = []
    statuses: list[int] = []
    deadline = time.monotonic() + seconds

    async def client_loop(number: int, client: httpx.AsyncClient) -> None:
        n = number
        while time.monotonic() < deadline:
            started = time.perf_counter()
            try:
                response = await client.post(endpoint, json=_body(endpoint, n))
                statuses.append(response.status_code)
            except httpx.HTTPError:
                statuses.append(-1)
            latencies.append((time.perf_counter() - started) * 1000)
            n += clients

    limits = httpx.Limits(max_connections=clients + 4)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:
        started = time.monotonic()
        await asyncio.gather(*(client_loop(i, client) for i in range(clients)))
        elapsed = time.monotonic() - started
    ok = [lat for lat, s in zip(latencies, statuses, strict=True) if 200 <= s < 300]
    return Level(
        endpoint,
        clients,
        round(elapsed, 1),
        len(statuses),
        round(len(ok) / elapsed, 2),
        round(statistics.median(ok), 1) if ok else 0.0,
        round(_quantile(ok, 0.95), 1),
        round(_quantile(ok, 0.99), 1),
        sum(1 for s in statuses if s < 200 or (s >= 300 and s != 429)),
        statuses.count(429),
        sum(1 for s in statuses if s >= 500),
    )


def _prepare(server: ApiServer) -> None:
    with server.client(timeout=300) as client:
        files = [
            ("files", (p.name, p.read_bytes())) for p in sorted(GUIDE.iterdir()) if p.is_file()
        ]
        jobs = [client.post("/v1/kbs/default/documents", files=files).json()["id"]]
        for kb, description in (
            ("hr", "Human resources: leave, holidays, salaries, expenses"),
            ("it", "IT help desk: VPN, laptops, passwords, printers"),
        ):
            client.post("/v1/kbs", json={"name": kb, "description": description})
            files = [("files", (p.name, p.read_bytes())) for p in sorted(DATA.glob(f"{kb}-*.md"))]
            jobs.append(client.post(f"/v1/kbs/{kb}/documents", files=files).json()["id"])
        for job in jobs:
            while client.get(f"/v1/jobs/{job}").json()["state"] not in ("done", "failed"):
                time.sleep(0.3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="per endpoint and level")
    parser.add_argument("--levels", default="1,8,32")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    levels = [int(x) for x in args.levels.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_tiny_llama(folder / "tiny.gguf", tokenizer_dir=folder / "tokenizer")
        port = free_port()
        llama = start_server(folder / "tiny.gguf", port, queue=True)
        try:
            wait_ready(port)
            settings = {
                "RAG_GENERATOR__BACKEND": "openai",
                "RAG_GENERATOR__BASE_URL": f"http://127.0.0.1:{port}/v1",
                "RAG_GENERATOR__MODEL": MODEL,
                "RAG_GENERATOR__TOKENIZER": str(folder / "tokenizer"),
                "RAG_GENERATOR__CONTEXT_WINDOW": "2048",
            }
            with ApiServer(folder / "index", settings) as server:
                _prepare(server)
                for endpoint in ("/v1/query", "/v1/retrieve", "/v1/chat/completions"):
                    asyncio.run(_run(server.url, endpoint, 2, 3))  # warm-up, not counted
                rss_start = rss_mb(server.pid)
                results = []
                for endpoint in ("/v1/query", "/v1/retrieve", "/v1/chat/completions"):
                    for clients in levels:
                        level = asyncio.run(_run(server.url, endpoint, clients, args.seconds))
                        results.append(level)
                        print(json.dumps(asdict(level)), flush=True)
                rss_end = rss_mb(server.pid)
        finally:
            llama.terminate()
            llama.wait(timeout=10)
    _report(results, rss_start, rss_end, args.json)


def _report(results: list[Level], rss_start: float, rss_end: float, out: Path | None) -> None:
    print("\n| endpoint | clients | req/s | p50 ms | p95 ms | p99 ms | errors | 429 | 5xx |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(
            f"| {r.endpoint} | {r.clients} | {r.per_second} | {r.p50_ms} | {r.p95_ms} | "
            f"{r.p99_ms} | {r.errors} | {r.rejected_429} | {r.server_errors} |"
        )
    growth = (rss_end - rss_start) / rss_start * 100
    print(
        f"\nserver RSS: {rss_start:.0f} MB at the start, {rss_end:.0f} MB at the end "
        f"({growth:+.1f}%)"
    )
    for endpoint in sorted({r.endpoint for r in results}):
        rows = [r for r in results if r.endpoint == endpoint]
        best = max(r.per_second for r in rows)
        top = max(rows, key=lambda r: r.clients)
        print(f"{endpoint}: {top.clients} clients at {top.per_second / best:.2f}x the best level")
    if out is not None:
        payload = {"levels": [asdict(r) for r in results], "rss_mb": [rss_start, rss_end]}
        out.write_text(json.dumps(payload, indent=2))


if __name__ == "__main__":
    main()
