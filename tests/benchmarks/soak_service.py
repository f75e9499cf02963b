"""The service soak: a real `rag serve` on loopback, 16 clients mixing uploads (new
documents and new versions), deletes, searches and extractive answers for a bounded time;
then every document is checked against what the clients know they wrote, and `rag doctor`
runs on the data dir in a fresh process.

Each client owns a few documents (only it changes them) and checks, after each write, what
a search straight after sees: a new version, whole (every hit of that document names the
version just written), and a deleted document, gone. All clients also upload the same few
shared files (same bytes), which must end as one document each. A sampler reads the
server's resident memory (with its parser processes) every few seconds.

    python -m tests.benchmarks.soak_service --seconds 600 --clients 16

Prints the operations, errors, latencies and memory as text (and JSON with --json FILE);
exits 1 when any check failed. `tests/benchmarks/test_service_soak.py` runs it under pytest
(slow).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.support.api_server import ApiServer, rss_mb

REPO = Path(__file__).resolve().parents[2]
GUIDE = REPO / "examples" / "guide"
OWNED = 6  # documents per client
SHARED = 4  # documents every client uploads, identical
QUESTIONS = (
    "How do I remove a document from the index?",
    "Which file formats can be ingested?",
    "如何删除文档？",
    "What does the shared notice say about the fire drill?",
)
FILLER = (
    "The quarterly report lists the open items of every team and the owner of each one. "
    "Meetings move to the large room on the second floor while the small rooms are painted. "
    "Badges that stop working are replaced at the front desk within one working day."
)

_EDITION = re.compile(r"\bedition(\d+)\b")

__all__ = ["SoakResult", "soak"]


def _marker(client: int, doc: int) -> str:
    """A word no other document holds (letters only: one BM25 term, not split or stemmed)."""
    return "soak" + "".join(chr(ord("a") + int(d)) for d in f"{client:02d}{doc:02d}") + "marker"


def _owned_text(client: int, doc: int, version: int, passages: list[str]) -> str:
    body = passages[(client * 31 + doc * 7 + version) % len(passages)]
    marker = _marker(client, doc)
    return (
        f"# Note {client}-{doc}\n\n{marker} is at edition{version}. {body}\n\n"
        f"## Details\n\nThe {marker} note, edition{version}, ends here. {FILLER}\n"
    )


def _shared_text(n: int) -> str:
    return f"# Shared notice {n}\n\nShared notice number {n} is about the fire drill. {FILLER}\n"


@dataclass
class SoakResult:
    """What the soak did and found."""

    seconds: float
    clients: int
    operations: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    retried_429: int = 0
    latency_ms: dict[str, dict[str, float]] = field(default_factory=dict)
    documents_expected: int = 0
    documents_found: int = 0
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    rss_mb: list[float] = field(default_factory=list)  # server + parsers, every `sample_s`
    server_rss_mb: list[float] = field(default_factory=list)  # the server process alone
    sample_s: float = 5.0
    doctor_exit: int | None = None

    @property
    def failed(self) -> bool:
        """Whether any check failed."""
        found = self.lost or self.duplicated or self.unexpected or self.stale
        return bool(self.errors or found or self.doctor_exit != 0)

    @property
    def _samples_per_minute(self) -> int:
        return max(1, int(60 / self.sample_s))

    def per_minute(self) -> list[float]:
        """The server's own resident memory, median of each minute."""
        n, samples = self._samples_per_minute, self.server_rss_mb
        return [statistics.median(samples[i : i + n]) for i in range(0, len(samples), n)]

    def memory(self, server_only: bool = False) -> tuple[float, float, float]:
        """(median of the first minute after the warm-up minute, of the last minute, peak)."""
        per_minute = self._samples_per_minute
        samples = self.server_rss_mb if server_only else self.rss_mb
        early = samples[per_minute : 2 * per_minute] or samples[:per_minute]
        late = samples[-per_minute:]
        if not samples:
            return (0.0, 0.0, 0.0)
        return (statistics.median(early), statistics.median(late), max(samples))


class _Client(threading.Thread):
    """One client: a loop of random operations until the deadline, checking each write."""

    def __init__(
        self, number: int, url: str, deadline: float, passages: list[str], seed: int
    ) -> None:
        super().__init__(daemon=True)
        self.number, self.url, self.deadline, self.passages = number, url, deadline, passages
        self.rng = random.Random(f"soak-{seed}-{number}")
        self.versions: dict[int, int] = {}  # owned doc -> version held by the service
        self.doc_ids: dict[int, str] = {}
        self.next_version: dict[int, int] = {}
        self.shared_ids: dict[int, str] = {}
        self.errors: list[str] = []
        self.ops: Counter[str] = Counter()
        self.retried = 0
        self.latencies: dict[str, list[float]] = {}

    def run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=300) as http:
            self.http = http
            while time.monotonic() < self.deadline:
                op = self.rng.choices(
                    ("query", "retrieve", "upload", "delete", "shared"), (40, 20, 20, 15, 5)
                )[0]
                try:
                    getattr(self, f"_op_{op}")()  # not `_delete`: a Thread method
                    self.ops[op] += 1
                except Exception as exc:  # noqa: BLE001 - every failure is a finding
                    self.errors.append(f"client {self.number} {op}: {type(exc).__name__}: {exc}")

    def _call(self, name: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        while True:
            started = time.perf_counter()
            response = self.http.request(method, path, **kwargs)
            if response.status_code != 429:
                break
            self.retried += 1
            time.sleep(float(response.headers.get("retry-after", "1")))
        self.latencies.setdefault(name, []).append((time.perf_counter() - started) * 1000)
        return response

    def _fail(self, what: str, response: httpx.Response | None = None) -> None:
        detail = f" ({response.status_code} {response.text[:300]})" if response else ""
        self.errors.append(f"client {self.number}: {what}{detail}")

    def _op_query(self) -> None:
        body = {"question": self.rng.choice(QUESTIONS), "generation": "none"}
        response = self._call("query", "POST", "/v1/query", json=body)
        if response.status_code != 200 or "answer" not in response.json():
            self._fail("query", response)

    def _op_retrieve(self) -> None:
        doc = self.rng.randrange(OWNED)
        self._check_owned(doc, "retrieve")

    def _op_upload(self) -> None:
        docs = self.rng.sample(range(OWNED), self.rng.randint(1, 3))
        files = []
        for doc in docs:
            version = self.next_version.get(doc, 0) + 1
            self.next_version[doc] = version
            text = _owned_text(self.number, doc, version, self.passages)
            files.append(("files", (f"c{self.number:02d}-d{doc}.md", text.encode())))
        job = self._job(self._call("upload", "POST", "/v1/kbs/default/documents", files=files))
        if job is None:
            return
        results = {f["source"]: f for f in job["files"]}
        for doc in docs:
            result = results.get(f"c{self.number:02d}-d{doc}.md")
            if result is None or result["status"] != "parsed":
                self._fail(f"upload of d{doc} not parsed: {result}")
                continue
            # An upload's id is its content's hash: a new edition is a new document, and the
            # client replaces the old one as API clients do, by deleting it.
            old = self.doc_ids.get(doc) if doc in self.versions else None
            self.versions[doc] = self.next_version[doc]
            self.doc_ids[doc] = result["doc_id"]
            if old is not None and not self._remove(doc, old):
                return
            self._check_owned(doc, "after upload")

    def _op_shared(self) -> None:
        n = self.rng.randrange(SHARED)
        files = [("files", (f"shared-{n}.md", _shared_text(n).encode()))]
        job = self._job(self._call("upload", "POST", "/v1/kbs/default/documents", files=files))
        if job is None:
            return
        result = job["files"][0]
        if result["status"] not in ("parsed", "skipped"):
            self._fail(f"shared upload {n}: {result}")
        elif result.get("doc_id"):
            self.shared_ids[n] = result["doc_id"]

    def _op_delete(self) -> None:
        present = sorted(self.versions)
        if not present:
            return
        doc = self.rng.choice(present)
        del self.versions[doc]
        if self._remove(doc, self.doc_ids[doc]):
            self._check_owned(doc, "after delete")

    def _remove(self, doc: int, doc_id: str) -> bool:
        response = self._call("delete", "DELETE", f"/v1/kbs/default/documents/{doc_id}")
        if response.status_code != 204:
            self._fail(f"delete d{doc}", response)
        return response.status_code == 204

    def _job(self, response: httpx.Response) -> dict[str, Any] | None:
        if response.status_code != 202:
            self._fail("upload refused", response)
            return None
        job_id, started = response.json()["id"], time.perf_counter()
        while True:
            job = self.http.get(f"/v1/jobs/{job_id}").json()
            if job["state"] in ("done", "failed"):
                break
            time.sleep(0.2)
        self.latencies.setdefault("job", []).append((time.perf_counter() - started) * 1000)
        if job["state"] != "done":
            self._fail(f"job {job_id} failed: {job.get('error')}")
            return None
        return dict(job)

    def _check_owned(self, doc: int, when: str) -> None:
        """A search for the document's marker sees exactly what this client last wrote."""
        body = {"question": _marker(self.number, doc), "top_k": 10}
        response = self._call("retrieve", "POST", "/v1/retrieve", json=body)
        if response.status_code != 200:
            self._fail(f"retrieve {when}", response)
            return
        name = f"c{self.number:02d}-d{doc}.md"
        hits = [h for h in response.json()["hits"] if Path(h["source"]).name == name]
        version = self.versions.get(doc)
        if version is None:
            if hits:
                self._fail(f"d{doc} found {when}, though deleted: {hits[0]['text'][:80]!r}")
            return
        wanted = f"edition{version}"
        seen = {m for h in hits for m in _versions(h["text"])}
        if not hits or seen != {wanted}:
            self._fail(f"d{doc} {when}: held {wanted}, search saw {sorted(seen) or 'nothing'}")


def _versions(text: str) -> set[str]:
    return {f"edition{n}" for n in _EDITION.findall(text)}


def _rss_tree(pid: int) -> float:
    """Resident memory of a process and its descendants (the parser processes), in MB."""
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        try:
            total += rss_mb(current)
            # Each thread's own children: the parsers are started by the job thread.
            for task in Path(f"/proc/{current}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, RuntimeError):
            continue  # gone meanwhile
    return total


def _sampler(pid: int, every_s: float, stop: threading.Event, result: SoakResult) -> None:
    while not stop.wait(every_s):
        result.rss_mb.append(round(_rss_tree(pid), 1))
        result.server_rss_mb.append(round(rss_mb(pid), 1))


def _passages(limit: int = 200) -> list[str]:
    """Real text to write: SciFact abstracts when the shared data is there."""
    from tests.conftest import DATA

    corpus = DATA / "beir" / "scifact" / "corpus.jsonl"
    if not corpus.is_file():
        return [FILLER]
    with corpus.open(encoding="utf-8") as handle:
        return [
            json.loads(line)["text"][:1200] for _, line in zip(range(limit), handle, strict=False)
        ]


def _final_check(server: ApiServer, clients: list[_Client], result: SoakResult) -> None:
    with server.client(timeout=300) as http:
        listing = http.get("/v1/kbs/default/documents", params={"limit": 1000}).json()
        for client in clients:
            client.http = http
            errors = len(client.errors)
            for doc in sorted(client.versions):
                client._check_owned(doc, "at the end")
            result.stale += client.errors[errors:]
            del client.errors[errors:]
    docs = listing["documents"]
    result.documents_found = listing["total"]
    by_source = Counter(Path(d["source"]).name for d in docs)
    result.duplicated = sorted(name for name, n in by_source.items() if n > 1)
    expected = {p.name for p in GUIDE.iterdir() if p.is_file()}
    expected |= {f"shared-{n}.md" for c in clients for n in c.shared_ids}
    expected |= {f"c{c.number:02d}-d{d}.md" for c in clients for d in c.versions}
    result.documents_expected = len(expected)
    result.lost = sorted(expected - set(by_source))
    result.unexpected = sorted(set(by_source) - expected)


def soak(seconds: float, clients: int = 16, seed: int = 0, sample_s: float = 5.0) -> SoakResult:
    """Run the soak against a fresh server in a temporary folder."""
    result = SoakResult(seconds=seconds, clients=clients, sample_s=sample_s)
    passages = _passages()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "index"
        with ApiServer(data_dir) as server:
            with server.client(timeout=300) as http:
                guide = [
                    ("files", (p.name, p.read_bytes()))
                    for p in sorted(GUIDE.iterdir())
                    if p.is_file()
                ]
                job = http.post("/v1/kbs/default/documents", files=guide).json()
                while http.get(f"/v1/jobs/{job['id']}").json()["state"] not in ("done", "failed"):
                    time.sleep(0.3)
            stop = threading.Event()
            sampler = threading.Thread(
                target=_sampler, args=(server.pid, sample_s, stop, result), daemon=True
            )
            sampler.start()
            deadline = time.monotonic() + seconds
            workers = [_Client(i, server.url, deadline, passages, seed) for i in range(clients)]
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join()
            stop.set()
            sampler.join()
            _final_check(server, workers, result)
        result.doctor_exit = _doctor(data_dir)
    for worker in workers:
        result.errors += worker.errors
        for op, n in worker.ops.items():
            result.operations[op] = result.operations.get(op, 0) + n
        result.retried_429 += worker.retried
    names = {n for w in workers for n in w.latencies}
    for name in sorted(names):
        values = sorted(v for w in workers for v in w.latencies.get(name, []))
        result.latency_ms[name] = {
            "p50": round(values[len(values) // 2], 1),
            "p95": round(values[min(len(values) - 1, int(0.95 * len(values)))], 1),
            "max": round(values[-1], 1),
        }
    return result


def _doctor(data_dir: Path) -> int:
    """`rag doctor` on the data dir, in a fresh process, after the server stopped."""
    env = {"RAG_DATA_DIR": str(data_dir), "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-m", "rag.cli", "doctor"], env=env, capture_output=True, check=False
    )
    return done.returncode


def report(result: SoakResult) -> str:
    """The figures as text."""
    early, late, peak = result.memory()
    alone = result.memory(server_only=True)
    ops = ", ".join(f"{k} {v}" for k, v in sorted(result.operations.items()))
    lines = [
        f"service soak: {result.clients} clients for {result.seconds:.0f} s: {ops} "
        f"({sum(result.operations.values())} operations; {result.retried_429} retried after 429)",
        f"errors: {len(result.errors)}; documents at the end: {result.documents_found} found, "
        f"{result.documents_expected} expected; lost {len(result.lost)}, duplicated "
        f"{len(result.duplicated)}, unexpected {len(result.unexpected)}, stale "
        f"{len(result.stale)}; rag doctor exit {result.doctor_exit}",
        f"memory (server + parsers): {early:.0f} MB in the second minute, {late:.0f} MB in "
        f"the last, peak {peak:.0f} MB ({(late - early) / early * 100 if early else 0:+.1f}%); "
        f"the server alone {alone[0]:.0f} MB, then {alone[1]:.0f} MB, peak {alone[2]:.0f} MB",
    ]
    lines.append(
        "  the server alone, each minute: " + ", ".join(f"{m:.0f}" for m in result.per_minute())
    )
    for name, figures in result.latency_ms.items():
        lines.append(
            f"  {name}: p50 {figures['p50']} ms, p95 {figures['p95']} ms, max {figures['max']} ms"
        )
    lines += [f"  error: {e}" for e in (result.errors + result.stale)[:20]]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=600.0)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    result = soak(args.seconds, args.clients, args.seed)
    print(report(result), flush=True)
    if args.json:
        args.json.write_text(json.dumps(asdict(result), indent=2))
    sys.exit(1 if result.failed else 0)


if __name__ == "__main__":
    main()
