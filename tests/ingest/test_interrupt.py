"""Ctrl-C (or SIGTERM) during `rag ingest`: what was parsed is written, one line says what
is left, the exit code is 130, and the same command run again resumes (skipping what was
written)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pytest

FILES = 300


def _default_sigint() -> None:
    # A shell runs background jobs with SIGINT ignored, and Python then never raises
    # KeyboardInterrupt: give the child the terminal's default, as a user's shell does.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_an_interrupted_ingest_keeps_what_is_finished_and_the_rerun_resumes(
    tmp_path: Path, stop: signal.Signals
) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    for n in range(FILES):
        text = f"Note {n}. The harbour office opens at {n % 12 + 1} o'clock on weekday {n}."
        (folder / f"note-{n:03d}.txt").write_text(text, encoding="utf-8")
    # Batches of 4 chunks: documents become visible as they go, so the test sees progress.
    env = {**os.environ, "RAG_DATA_DIR": str(tmp_path / "index"), "RAG_EMBEDDER__BATCH_SIZE": "1"}
    command, process = _ingest(folder, env, _default_sigint)
    deadline = time.monotonic() + 180
    while _documents(tmp_path / "index" / "catalog.sqlite") < 8:
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.1)
    process.send_signal(stop)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 130, (out, err)
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    line = next(x for x in err.splitlines() if x.startswith("interrupted:"))
    written, left = (int(w) for w in line.split()[1:5:3])
    assert written > 0 and left > 0 and written + left <= FILES
    assert line.endswith("run the same command to finish")

    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    assert "resuming an interrupted ingest" in again.stdout
    assert f"skipped {written}" in again.stdout and f"parsed {FILES - written}" in again.stdout


def _ingest(
    folder: Path, env: dict[str, str], start: Callable[[], None]
) -> tuple[list[str], subprocess.Popen[str]]:
    """`rag ingest --quiet FOLDER` in a process group of its own (as a terminal's job), with
    `start` run in the child first (what the parent leaves SIGINT as)."""
    command = [sys.executable, "-m", "rag.cli", "ingest", "--quiet", str(folder)]
    process = subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=start,
        start_new_session=True,
    )
    return command, process


def _documents(catalog: Path) -> int:
    if not catalog.exists():
        return 0
    try:
        with closing(sqlite3.connect(catalog, timeout=1)) as db:
            return int(db.execute("SELECT COUNT(*) FROM documents").fetchone()[0])
    except sqlite3.Error:
        return 0


def test_an_interrupted_run_that_wrote_nothing_does_not_say_nothing_changed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from ingest.run import IngestReport
    from rag.cli.index_commands import _summary

    report = IngestReport()
    report.interrupted = 16  # Ctrl-C before the first file was written
    _summary(report, quiet=False)
    assert "nothing changed" not in capsys.readouterr().out
    _summary(IngestReport(), quiet=False)  # a run with truly nothing to do says so
    assert "nothing changed" in capsys.readouterr().out


BIG_PARAGRAPHS = 2400


def _ignore_sigint() -> None:
    # What `setsid rag ingest big &` in a script gives the child: SIGINT ignored.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.parametrize(
    "start", [_default_sigint, _ignore_sigint], ids=["terminal", "background-job"]
)
def test_ctrl_c_stops_a_large_document_mid_embedding_and_drops_it_whole(
    tmp_path: Path, start: Callable[[], None]
) -> None:
    """The reporter's case: a large document in flight (here ~2400 chunks, minutes to embed
    on CI). SIGINT to the process group, as a terminal's Ctrl-C sends it (also to a run whose
    parent had SIGINT ignored, as a script's background job has), stops it at the next slice
    of 128 chunks: exit 130, "stopping…" at once, the large document not written at all, and
    the vector cache holding a fraction of its chunks."""
    folder = tmp_path / "docs"
    folder.mkdir()
    paragraphs = (
        f"Paragraph {n}. Ledger entry {n * 7919 % 100003} records shipment {n} of crate "
        f"{n % 97} to warehouse {n % 13}, inspected on day {n % 365} by clerk {n % 41}. " * 6
        for n in range(BIG_PARAGRAPHS)
    )
    (folder / "000-big.txt").write_text("\n\n".join(paragraphs), encoding="utf-8")
    for n in range(5):
        (folder / f"note-{n}.txt").write_text(f"Note {n}: the ferry leaves at {n + 6}.", "utf-8")
    index = tmp_path / "index"
    _, process = _ingest(folder, {**os.environ, "RAG_DATA_DIR": str(index)}, start)
    deadline = time.monotonic() + 300
    while _count(index / "embeddings.sqlite", "vectors") < 256:  # two slices of the big one
        assert time.monotonic() < deadline and process.poll() is None, process.communicate()
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGINT)
    out, err = process.communicate(timeout=120)
    embedded = _count(index / "embeddings.sqlite", "vectors")
    assert process.returncode == 130, (out, err)
    assert "stopping…" in err and "Traceback" not in err
    assert "interrupted: 0 files written, 6 left; run the same command to finish" in err, err
    # Stopped within a slice or two of the signal, not at the end of the document.
    assert embedded < BIG_PARAGRAPHS / 2, embedded
    assert _documents(index / "catalog.sqlite") == 0


def _count(database: Path, table: str) -> int:
    if not database.exists():
        return 0
    try:
        with closing(sqlite3.connect(database, timeout=1)) as db:
            return int(db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])  # noqa: S608
    except sqlite3.Error:
        return 0
