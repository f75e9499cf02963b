"""Many searches at once on one open index while a writer in the same process ingests and
deletes: no error, and every result shows the index before or after each write, never a
mix. Run on Chroma embedded and on Milvus Lite.

16 reader threads run 50 queries each, cycling through dense, BM25, hybrid and two-level
search, while the writer thread replaces one probe document again and again (a new
version, or a delete every fourth step). Each probe version's text names its number, so a
result tells which versions it saw; the versions visible while a query ran are known from
the writer's step counter read before and after it.
"""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from ingest.run import delete_source, ingest_jsonl, ingest_paths
from rag.config import RagConfig, StoreConfig, derive
from rag.knowledge_base import KnowledgeBase
from rag.runtime import Runtime
from rag.types import Hit
from tests.support.app import loaded_embedder

GUIDE = Path(__file__).resolve().parents[2] / "examples" / "guide"
READERS, QUERIES = 16, 50
MODES = ("dense", "bm25", "hybrid", "two_level")
PROBE_QUERY = "quokka zebra lighthouse protocol"
QUESTIONS = (
    PROBE_QUERY,
    "How do I remove a document from the index?",
    "如何删除文档？",
    PROBE_QUERY,
    "Which file formats can be ingested?",
)
_VERSION = re.compile(r"probe version (\d+)")


def _probe_text(version: int) -> str:
    return (
        f"The quokka zebra lighthouse protocol, probe version {version}. The quokka zebra "
        f"lighthouse protocol guards the harbour; probe version {version} replaces the last."
    )


class _Writer(threading.Thread):
    """Replaces the probe document step after step until told to stop."""

    def __init__(self, app: KnowledgeBase, corpus: Path) -> None:
        super().__init__(daemon=True)
        self.app, self.corpus = app, corpus
        self.states: list[int | None] = [None]  # probe version visible after each step
        self.done = 0  # steps finished
        self.writing = False  # a step is under way
        self.stop = threading.Event()
        self.errors: list[BaseException] = []

    def run(self) -> None:
        step = 0
        try:
            while not self.stop.is_set():
                step += 1
                version = None if step % 4 == 0 else step
                self.states.append(version)
                self.writing = True
                if version is None:
                    delete_source(self.app, "probe")
                else:
                    line = '{"_id": "probe", "title": "Probe", "text": "%s"}\n'
                    self.corpus.write_text(line % _probe_text(version), encoding="utf-8")
                    ingest_jsonl(self.app, self.corpus)
                self.done = step
                self.writing = False
                time.sleep(0.3)  # quiet spells, in which a search must see exactly one state
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.errors.append(exc)


def _config(tmp_path: Path, backend: str) -> RagConfig:
    # two_level needs enough documents for the summary step to matter: the guide's four.
    return RagConfig(data_dir=tmp_path / "index", store=StoreConfig(backend=backend))


class _Reader(threading.Thread):
    """Runs `QUERIES` searches, checking each result against the writer's states."""

    def __init__(self, worker: int, searches: dict[str, KnowledgeBase], writer: _Writer) -> None:
        super().__init__(daemon=True)
        self.worker, self.searches, self.writer = worker, searches, writer
        self.latencies: dict[str, list[float]] = {m: [] for m in MODES}
        self.failures: list[str] = []
        self.errors: list[BaseException] = []
        self.strong = self.probe_seen = 0

    def run(self) -> None:
        writer = self.writer
        try:
            for n in range(QUERIES):
                mode = MODES[(self.worker + n) % len(MODES)]
                question = QUESTIONS[(self.worker * 7 + n) % len(QUESTIONS)]
                before, busy = writer.done, writer.writing
                started = time.perf_counter()
                hits = self.searches[mode].pipeline.search.retrieve(question, 5)
                self.latencies[mode].append((time.perf_counter() - started) * 1000)
                after, busy = writer.done, busy or writer.writing
                # A step under way may have committed already: its state is allowed too.
                allowed = writer.states[before : after + (2 if busy or after > before else 1)]
                self._check(mode, question, hits, allowed)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.errors.append(exc)

    def _check(self, mode: str, question: str, hits: list[Hit], allowed: list[int | None]) -> None:
        seen = {int(v) for h in hits for v in _VERSION.findall(h.chunk.text)}
        if len(seen) > 1 or not seen <= set(allowed):
            self.failures.append(f"{mode} {question!r}: saw {seen}, allowed {allowed}")
        self.probe_seen += bool(seen)
        if question == PROBE_QUERY and mode in ("bm25", "hybrid") and len(set(allowed)) == 1:
            self.strong += 1  # one state all along: the probe must be found exactly as it is
            expected = set() if allowed[0] is None else {allowed[0]}
            if seen != expected:
                self.failures.append(f"{mode}: saw {seen} while only {expected} was visible")


@pytest.mark.parametrize("backend", ["chroma", "milvus"])
def test_searches_from_many_threads_while_writing(tmp_path: Path, backend: str) -> None:
    config = _config(tmp_path, backend)
    with Runtime.open(config, write=True, embedder=loaded_embedder(config)) as runtime:
        app = runtime.kb()
        assert ingest_paths(app, [GUIDE]).exit_code == 0
        searches = {m: app.with_config(derive(config, retrieval={"mode": m})) for m in MODES}
        for rag in searches.values():
            rag.pipeline.search.retrieve("warm-up", 1)
        writer = _Writer(app, tmp_path / "probe.jsonl")
        writer.start()
        while writer.done < 2:  # the writer is running before the readers start
            time.sleep(0.05)
        started = time.perf_counter()
        readers = [_Reader(i, searches, writer) for i in range(READERS)]
        for reader in readers:
            reader.start()
        for reader in readers:
            reader.join(timeout=600)
        elapsed = time.perf_counter() - started
        writer.stop.set()
        writer.join(timeout=120)
        for rag in searches.values():
            rag.close()

    errors = [e for r in readers for e in r.errors] + writer.errors
    assert not errors, errors[:3]
    assert [f for r in readers for f in r.failures] == []
    latencies = {m: [ms for r in readers for ms in r.latencies[m]] for m in MODES}
    total = sum(len(v) for v in latencies.values())
    strong = sum(r.strong for r in readers)
    assert total == READERS * QUERIES
    assert writer.done >= 4, "the writer should have written during the searches"
    assert sum(r.probe_seen for r in readers) > 0 and strong > 0
    figures = ", ".join(
        f"{m} p50 {np.percentile(v, 50):.0f} / p95 {np.percentile(v, 95):.0f} ms"
        for m, v in latencies.items()
    )
    print(
        f"\n{backend}: {total} queries by {READERS} threads in {elapsed:.1f} s "
        f"({total / elapsed:.0f}/s) during {writer.done} writes; {figures}; "
        f"{strong} exact-state checks"
    )
