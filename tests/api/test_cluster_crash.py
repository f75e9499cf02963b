"""The shared deployment under fire (slow: `pytest -m slow -s tests/api/test_cluster_crash.py`).

2 `rag serve` and 2 `rag worker` processes on one PostgreSQL. 200 small documents of 2+
chunks each are uploaded to 3 knowledge bases while a searcher keeps asking for random
documents; a random process (API or worker) is SIGKILLed every few seconds, 20 times, and
restarted as a supervisor would; PostgreSQL is stopped and started once mid-run. Clients
retry on the other API process, as behind a load balancer.

Afterwards: every job is done (a job a kill stopped is claimed again), every document is
visible exactly once, per document the catalog's chunk count equals its chunk rows, its
vector rows and its BM25 rows; the BM25 postings (in rows and in packed arrays: packing
runs every 300 postings here) are exactly the chunks' own; no chunk id twice; `rag doctor`
finds nothing; and no search during the run returned part of a document (a document's hits
were all of its chunks, or none).
"""

from __future__ import annotations

import hashlib
import random
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.api_server import ApiServer
from tests.support.cluster import WorkerProcess, rag_cli
from tests.support.postgres import bm25_balance

pytestmark = pytest.mark.slow

KBS = ("alpha", "beta", "gamma")
DOCS = 200
KILLS = 20
WORDS = ["harbour", "ledger", "cargo", "tide", "beacon", "quay", "freight", "anchor", "pilot"]


def _document(n: int) -> bytes:
    """About 400 tokens: two chunks or more, each naming the document (`marker<n>`)."""
    rng = random.Random(n)
    paragraphs = []
    for p in range(4):
        words = " ".join(rng.choice(WORDS) for _ in range(90))
        paragraphs.append(f"marker{n} paragraph {p}: {words}.")
    return "\n\n".join(paragraphs).encode()


class _Cluster:
    """The processes, each restartable; requests go to a live API, retried elsewhere."""

    def __init__(self, tmp: Path, settings: dict[str, str]) -> None:
        self.apis = [
            ApiServer(tmp / f"api{n}" / "data", settings, log=tmp / f"api{n}.log") for n in (1, 2)
        ]
        self.workers = [
            WorkerProcess(
                tmp / f"w{n}", settings, "--poll", "0.2", "--lease", "4", "--max-attempts", "20"
            )
            for n in (1, 2)
        ]
        self.lock = threading.Lock()

    def start(self) -> None:
        for api in self.apis:
            api.start()
        for worker in self.workers:
            worker.start().wait_ready()

    def request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        deadline = time.monotonic() + 120
        while True:
            live = [a for a in self.apis if a.process is not None and a.process.poll() is None]
            api = random.choice(live) if live else self.apis[0]
            try:
                with httpx.Client(base_url=api.url, timeout=60) as client:
                    response = client.request(method, path, **kw)
                if response.status_code < 500:
                    return response
            except httpx.HTTPError:
                pass  # killed mid-request: the load balancer's retry
            if time.monotonic() > deadline:
                raise AssertionError(f"{method} {path}: no API answered for 120 s")
            time.sleep(0.3)

    def kill_one(self, rng: random.Random) -> str:
        with self.lock:
            target = rng.choice([*self.apis, *self.workers])
            if isinstance(target, ApiServer):
                assert target.process is not None
                target.process.kill()
                target.process.wait()
                target.process = None
                threading.Thread(target=_restart, args=(target,), daemon=True).start()
                return "api"
            target.kill()
            target.start()
            return "worker"

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop()
        for api in self.apis:
            api.stop()


def _restart(api: ApiServer) -> None:
    """Start a killed API process again, as a supervisor would (it may be killed again
    before it is up: the next kill restarts it)."""
    try:
        api.start()
    except RuntimeError:
        pass


class _Run:
    """The documents, the searcher watching for partial ones, the uploads and kills."""

    def __init__(self, cluster: _Cluster, postgres_server: Any) -> None:
        self.cluster, self.database = cluster, postgres_server
        self.docs = {n: _document(n) for n in range(DOCS)}
        self.home = {n: KBS[n % len(KBS)] for n in range(DOCS)}
        self.partial: list[str] = []
        self.searches = 0
        self.kills: list[str] = []
        self.jobs: list[str] = []
        self.done = threading.Event()
        self.rng = random.Random(34)

    def search(self) -> None:
        local = random.Random(7)
        while not self.done.is_set():
            n = local.randrange(DOCS)
            doc_id = f"sha256:{hashlib.sha256(self.docs[n]).hexdigest()}"
            body = {
                "question": f"marker{n} harbour",
                "kb": self.home[n],
                "top_k": 50,
                "filters": {"doc_ids": [doc_id]},
            }
            try:
                answer = self.cluster.request("POST", "/v1/retrieve", json=body).json()
                seen = {h["chunk_id"] for h in answer.get("hits", []) if h["doc_id"] == doc_id}
                if seen:  # visible: then all of it, never part
                    path = f"/v1/kbs/{self.home[n]}/documents/{doc_id}"
                    chunks = self.cluster.request("GET", path).json().get("chunks")
                    if len(seen) != chunks:
                        self.partial.append(f"{doc_id}: {len(seen)} of {chunks} chunks")
            except AssertionError:
                continue
            self.searches += 1

    def upload(self, started: float) -> None:
        """Batches of 5 documents, the knowledge bases in turn; a kill every 3 s, the
        database restarted at the tenth."""
        for kb in KBS:
            created = self.cluster.request("POST", "/v1/kbs", json={"name": kb})
            assert created.status_code in (201, 409), created.text
        mine = {kb: [n for n in range(DOCS) if self.home[n] == kb] for kb in KBS}
        batches = [
            (kb, ns[i : i + 5])
            for i in range(0, DOCS, 5)
            for kb, ns in mine.items()
            if ns[i : i + 5]
        ]
        for kb, batch in batches:
            files = [("files", (f"doc{n:03d}.txt", self.docs[n], "text/plain")) for n in batch]
            response = self.cluster.request("POST", f"/v1/kbs/{kb}/documents", files=files)
            assert response.status_code == 202, response.text
            self.jobs.append(response.json()["id"])
            if len(self.kills) < KILLS and time.monotonic() - started > 3 * (len(self.kills) + 1):
                self.kill()

    def kill(self) -> None:
        self.kills.append(self.cluster.kill_one(self.rng))
        if len(self.kills) == KILLS // 2:
            self.database.stop(mode="immediate")  # as if its machine lost power
            time.sleep(2)
            self.database.start()

    def finish(self) -> None:
        """The kills left, then every job to the end (a failed one retried, as a user would)."""
        while len(self.kills) < KILLS:
            time.sleep(2.5)
            self.kill()
        pending, deadline = set(self.jobs), time.monotonic() + 900
        while pending and time.monotonic() < deadline:
            for job_id in list(pending):
                job = self.cluster.request("GET", f"/v1/jobs/{job_id}").json()
                if job["state"] == "done":
                    pending.discard(job_id)
                elif job["state"] == "failed":
                    self.cluster.request("POST", f"/v1/jobs/{job_id}/retry")
            time.sleep(1)
        assert not pending, f"{len(pending)} jobs unfinished"


def test_kills_and_a_database_restart_lose_nothing_and_show_nothing_partial(
    tmp_path: Path, postgres_url: str, postgres_server: Any
) -> None:
    settings = {
        "RAG_DATABASE__URL": postgres_url,
        "RAG_STORE__BACKEND": "pgvector",
        "RAG_DATABASE__BM25_PACK_AT": "300",  # BM25 postings packed during the run, too
    }
    cluster = _Cluster(tmp_path, settings)
    cluster.start()
    run = _Run(cluster, postgres_server)
    try:
        reader = threading.Thread(target=run.search, daemon=True)
        reader.start()
        started = time.monotonic()
        run.upload(started)
        run.finish()
        time.sleep(2)
        run.done.set()
        reader.join(60)
        print(
            f"\ncrash run: {len(run.jobs)} jobs, {DOCS} documents, kills "
            f"{run.kills.count('api')} API + {run.kills.count('worker')} worker, 1 database "
            f"restart, {run.searches} searches, {time.monotonic() - started:.0f} s"
        )
        assert not run.partial, run.partial[:5]
        assert run.searches > 50
        for kb in KBS:
            path = f"/v1/kbs/{kb}/documents"
            listed = cluster.request("GET", path, params={"limit": 1000}).json()
            expected = sorted(f"doc{n:03d}.txt" for n in range(DOCS) if run.home[n] == kb)
            assert sorted(d["source"] for d in listed["documents"]) == expected
    finally:
        run.done.set()
        cluster.stop()
    _check_rows(postgres_url)
    doctor = rag_cli(tmp_path / "doctor", settings, "doctor", timeout_s=300)
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr


def _check_rows(url: str) -> None:
    """Per document: catalog chunk count = chunk rows = vector rows = BM25 rows."""
    import psycopg

    with psycopg.connect(url) as db:
        for kb in KBS:
            table = f'rag."vec_chunks_kb_{kb}"'
            rows = db.execute(
                f"""
                SELECT d.doc_id, d.n_chunks,
                  (SELECT count(*) FROM rag.chunks c WHERE c.kb = d.kb AND c.doc_id = d.doc_id),
                  (SELECT count(*) FROM {table} v WHERE v.doc_id = d.doc_id),
                  (SELECT count(*) FROM rag.lex_docs l
                   WHERE l.kb = d.kb AND l.coll = 0 AND l.doc_id = d.doc_id)
                FROM rag.documents d WHERE d.kb = %s
                """,
                (kb,),
            ).fetchall()
            assert len(rows) == sum(1 for n in range(DOCS) if KBS[n % len(KBS)] == kb)
            for doc_id, n_chunks, chunks, vectors, postings in rows:
                assert n_chunks >= 2, doc_id
                assert n_chunks == chunks == vectors == postings, (doc_id, kb)
            twice = db.execute(f"SELECT id FROM {table} GROUP BY id HAVING count(*) > 1").fetchall()
            assert twice == []
            (stray,) = db.execute(
                f"SELECT count(*) FROM {table} v WHERE NOT EXISTS (SELECT 1 FROM rag.chunks c "
                "WHERE c.kb = %s AND c.chunk_id = v.id)",
                (kb,),
            ).fetchone()
            assert stray == 0, f"{stray} vector rows of no visible chunk in {kb}"
            # BM25: the postings in rows and arrays are the chunks' own
            for coll in (0, 1):
                held, written, packs = bm25_balance(db, kb, coll)
                assert held == written, (kb, coll, held, written)
                assert coll == 1 or packs > 0, f"the chunks of {kb} were never packed"
