"""How many parser processes a job starts: one for a handful of quick files, more when
files keep it busy (a parser takes seconds to load its libraries)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import ingest.isolation
from ingest.isolation import ParserPool
from rag.config import ParserConfig


def _notes(folder: Path, count: int) -> list[Path]:
    folder.mkdir()
    paths = []
    for i in range(count):
        path = folder / f"note-{i}.md"
        path.write_text(f"# Note {i}\n\nA short note about topic {i}.\n", encoding="utf-8")
        paths.append(path)
    return paths


def _processes(log: Path) -> int:
    return len(set(re.findall(r"parser process (\d+) confined", log.read_text())))


def test_a_handful_of_quick_files_is_parsed_by_one_process(tmp_path: Path) -> None:
    log = tmp_path / "parser.log"
    with ParserPool(ParserConfig(workers=2), log_file=log) as pool:
        parsed = dict(pool.parse(_notes(tmp_path / "notes", 4)))
    assert len(parsed) == 4 and all(parts[0].elements for parts in parsed.values())
    assert _processes(log) == 1


def test_files_that_keep_a_parser_busy_start_another(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingest.isolation, "_GROW_AFTER_S", 0.0)  # every file counts as long
    log = tmp_path / "parser.log"
    with ParserPool(ParserConfig(workers=2), log_file=log) as pool:
        parsed = dict(pool.parse(_notes(tmp_path / "notes", 4)))
    assert len(parsed) == 4
    assert _processes(log) == 2


def test_a_pool_started_early_serves_the_job(tmp_path: Path) -> None:
    log = tmp_path / "parser.log"
    with ParserPool(ParserConfig(workers=2), log_file=log) as pool:
        pool.start()  # loading while the caller loads its model
        parsed = dict(pool.parse(_notes(tmp_path / "notes", 2)))
    assert len(parsed) == 2 and _processes(log) == 1
