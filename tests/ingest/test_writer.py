"""Parsing goes on while the model embeds; progress counts chunks as they are embedded; an
embedding error stops the run with nothing half-written."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

import ingest.writer
from ingest.run import ingest_paths
from rag.config import RagConfig
from rag.embed import Embedder
from tests.support.app import index_stats, opened


class Slow:
    """The real model, each passage call made to last at least `seconds`, with the time
    of every call recorded."""

    def __init__(self, inner: Embedder, seconds: float, fail: bool = False) -> None:
        self.inner, self.seconds, self.fail = inner, seconds, fail
        self.calls: list[tuple[float, float]] = []

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        started = time.monotonic()
        vectors = self.inner.embed_documents(texts)
        time.sleep(self.seconds)
        self.calls.append((started, time.monotonic()))
        if self.fail:
            raise RuntimeError("the model ran out of memory")
        return vectors


class Recorder:
    """Progress as the CLI gets it, with the time of every file parsed."""

    def __init__(self) -> None:
        self.parsed: list[float] = []
        self.reports: list[tuple[int, int, str, str]] = []

    def start(self, total: int, label: str) -> None:
        return None

    def advance(self, steps: int = 1, note: str = "") -> None:
        self.parsed.append(time.monotonic())

    def chunks(self, embedded: int, found: int, note: str = "") -> None:
        self.reports.append((embedded, found, note, threading.current_thread().name))


def _files(folder: Path, count: int, sections: int) -> Path:
    folder.mkdir()
    words = "leave policy approval carry-over manager request calendar team holiday notice"
    for i in range(count):
        body = "\n\n".join(
            f"## Part {s}\n\n" + " ".join(f"{words} {i}-{s}-{n}." for n in range(14))
            for s in range(sections)
        )
        (folder / f"doc-{i}.md").write_text(f"# Document {i}\n\n{body}\n", encoding="utf-8")
    return folder


def test_parsing_goes_on_while_the_model_embeds(
    tmp_path: Path, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingest.writer, "SLICE", 4)  # progress after every 4 chunks
    config = RagConfig(data_dir=tmp_path / "index", embedder={"batch_size": 2})  # type: ignore[arg-type]
    folder = _files(tmp_path / "docs", count=4, sections=6)
    slow, progress = Slow(embedder, 0.5), Recorder()
    with opened(config, write=True, embedder=slow) as app:
        report = ingest_paths(app, [folder], progress=progress)
    assert report.count("parsed") == 4 and report.chunks_written >= 16
    # a file arrived from the parsers while the model was embedding an earlier one
    overlapping = [t for t in progress.parsed[1:] if any(a < t < b for a, b in slow.calls)]
    assert overlapping, (progress.parsed, slow.calls)
    # chunk progress: from the writer's thread, rising, naming the file, ending complete
    embedded = [e for e, _, _, _ in progress.reports]
    assert embedded == sorted(embedded) and len(embedded) >= 4
    assert progress.reports[-1][0] == progress.reports[-1][1] == report.chunks_written
    assert all(note.endswith(".md") for _, _, note, _ in progress.reports)
    assert {thread for _, _, _, thread in progress.reports} == {"rag-ingest-writer"}


def test_an_embedding_error_stops_the_run_and_writes_nothing(
    tmp_path: Path, embedder: Embedder
) -> None:
    config = RagConfig(data_dir=tmp_path / "index")
    folder = _files(tmp_path / "docs", count=2, sections=2)
    failing = Slow(embedder, 0.0, fail=True)
    with (
        opened(config, write=True, embedder=failing) as app,
        pytest.raises(RuntimeError, match="ran out of memory"),
    ):
        ingest_paths(app, [folder])
    assert index_stats(config).documents == 0
    with opened(config, write=True, embedder=embedder) as app:  # the next run does it all
        assert ingest_paths(app, [folder]).count("parsed") == 2
