"""The hostile-file suite through `rag ingest`: each file rejected or parsed within its
limits, the batch goes on, no request leaves a parser, nothing is written outside the data
dir, no /etc/passwd content reaches the index, and the parsers' peak memory is bounded."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.hostile import PASSWD_MARK, SLIP_NAMES, recorder, write_hostile

TIMEOUT_S = 20  # random bytes named .doc keep LibreOffice busy until the limit
MEMORY_MB = 4096
_MEASURE = """
import json, resource, subprocess, sys, time
started = time.monotonic()
run = subprocess.run(sys.argv[1:], capture_output=True, text=True, errors="backslashreplace")
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(json.dumps({"rc": run.returncode, "out": run.stdout, "err": run.stderr,
                  "peak_mb": peak, "seconds": time.monotonic() - started}))
"""


def _run_ingest(folder: Path, data_dir: Path, tmp: Path) -> dict[str, object]:
    """`rag ingest folder` in a process of its own: its output, and the peak RSS of it and
    its parser processes (the largest one)."""
    config = data_dir.parent / "hostile.toml"
    config.write_text(
        f'data_dir = "{data_dir}"\n[parser]\ntimeout_s = {TIMEOUT_S}\nmax_memory_mb = '
        f"{MEMORY_MB}\nzip_max_total_mb = 40\nmax_file_mb = 100\n",
        encoding="utf-8",
    )
    env = dict(os.environ, TMPDIR=str(tmp), COLUMNS="400")
    command = [sys.executable, "-c", _MEASURE, sys.executable, "-m", "rag.cli"]
    command += ["--config", str(config), "ingest", str(folder)]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)
    return json.loads(done.stdout)


def _lines(out: str, status: str) -> dict[str, str]:
    """{file name: reason} of the `status: path: reason` lines."""
    found = {}
    for line in out.splitlines():
        if line.startswith(f"{status}: "):
            path, _, reason = line[len(status) + 2 :].partition(": ")
            found[path.rsplit("/", 1)[-1]] = reason
    return found


def test_hostile_folder(tmp_path: Path) -> None:
    folder, data_dir, tmp = tmp_path / "hostile", tmp_path / "index", tmp_path / "tmp"
    tmp.mkdir()
    outside_before = set(tmp_path.parent.iterdir())
    with recorder() as server:
        made = write_hostile(folder, server.url, bomb_mb=60)
        result = _run_ingest(folder, data_dir, tmp)
        requests = list(server.requests)
    out, err = str(result["out"]), str(result["err"])
    print(
        f"hostile suite: {len(made)} files, {result['seconds']:.1f} s, "
        f"peak RSS {result['peak_mb']:.0f} MB"
    )
    assert result["rc"] == 1, err  # some files failed; the run itself did not
    assert "internal error" not in err and "Traceback" not in err + out
    assert not (data_dir / "errors.log").exists()
    failed, skipped = _lines(out, "failed"), _lines(out, "skipped")

    assert "zip_max_total_mb" in failed["bomb-flat.zip"]
    assert "zip_max_depth" in failed["bomb-nested.zip"]
    assert "zip_max_total_mb" in failed["inflating.docx"]
    for name in ("xxe.docx", "laughs.docx", "laughs.xml", "xxe.xml"):
        assert "XML entities" in failed[name], name
    assert "nested" in failed["nested.xml"]
    assert "nested more than 256 levels" in failed["nested.json"]
    assert "max_file_mb" in failed["sparse.txt"]
    assert "outside the folder" in skipped["passwd-link.txt"]
    assert "outside the folder" in skipped["etc-link"]
    assert "FIFO" in skipped["fifo.txt"]
    reported = set(failed) | set(skipped) | _parsed(data_dir)
    assert set(made) - reported == set(), "files neither parsed nor reported"
    assert {"new\nline.txt", "$(touch pwned).txt", "quote'\"s.txt"} <= _parsed(data_dir)

    assert requests == [], f"a parser contacted the recorder: {requests}"
    assert not (Path.cwd() / "pwned").exists()
    written = {p.name for p in tmp_path.rglob("*")} - {p.name for p in folder.iterdir()}
    for name in SLIP_NAMES:
        assert Path(name.replace("\\", "/")).name not in written
    assert not Path("/tmp/slipped-absolute.txt").exists()
    assert {"slipped-out.txt", "slipped-absolute.txt"} <= {
        n.rsplit("/", 1)[-1] for n in _sources(data_dir) if n.startswith(str(folder / "slip.zip"))
    }
    assert set(tmp_path.parent.iterdir()) == outside_before
    # The ingesting process keeps its caches (jieba, torch) there; parsers left nothing.
    leftovers = [p.name for p in tmp.iterdir() if p.name.startswith(("rag-", "lu", "soffice"))]
    assert leftovers == [], "a parser left temporary files behind"
    assert float(str(result["peak_mb"])) < MEMORY_MB
    for file in data_dir.rglob("*"):
        if file.is_file():
            assert PASSWD_MARK.encode() not in file.read_bytes(), file


def _sources(data_dir: Path) -> list[str]:
    import sqlite3

    with sqlite3.connect(data_dir / "catalog.sqlite") as db:
        return [row[0] for row in db.execute("SELECT source FROM documents")]


def _parsed(data_dir: Path) -> set[str]:
    """The file names documents came from (archive members by their archive)."""
    return {source.split("!")[0].rsplit("/", 1)[-1] for source in _sources(data_dir)}


@pytest.mark.parametrize("suffix", [".txt", ".md"])
def test_bytes_not_utf8_in_a_name(tmp_path: Path, suffix: str) -> None:
    """A name the catalog cannot store as-is is ingested, shown escaped, and deletable."""
    folder = tmp_path / "docs"
    folder.mkdir()
    name = os.fsdecode(b"caf\xe9-\x1b[31mred" + suffix.encode())
    (folder / name).write_text("Badly named files still hold good text.", encoding="utf-8")
    env = dict(os.environ, RAG_DATA_DIR=str(tmp_path / "index"))
    run = subprocess.run(
        [sys.executable, "-m", "rag.cli", "ingest", str(folder)],
        capture_output=True,
        env=env,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert b"\x1b" not in run.stdout + run.stderr  # nothing drives the terminal
    assert _parsed(tmp_path / "index") == {f"caf\\xe9-\x1b[31mred{suffix}"}
    again = subprocess.run(
        [sys.executable, "-m", "rag.cli", "ingest", str(folder)],
        capture_output=True,
        env=env,
        timeout=300,
    )
    assert b"nothing changed" in again.stdout
    delete = subprocess.run(
        [sys.executable, "-m", "rag.cli", "delete", str(folder / name)],
        capture_output=True,
        env=env,
        timeout=300,
    )
    assert delete.returncode == 0, delete.stderr
    assert _parsed(tmp_path / "index") == set()


def test_a_file_over_the_memory_limit_fails_alone(tmp_path: Path) -> None:
    """150 MB of small CSV cells need about 1.3 GB more than a warmed parser's 2 GB."""
    from ingest.isolation import ParserPool
    from rag.config import ParserConfig

    row = ",".join(f"c{i}" for i in range(20)) + "\n"
    big = tmp_path / "cells.csv"
    big.write_text(row * (150_000_000 // len(row)), encoding="ascii")
    small = tmp_path / "note.txt"
    small.write_text("A short note parsed after the big file.", encoding="utf-8")
    config = ParserConfig(max_memory_mb=3000, max_file_mb=500, workers=1, timeout_s=120)
    with ParserPool(config) as pool:
        results = {path.name: parts for path, parts in pool.parse([big, small])}
    error = results["cells.csv"][0].error
    assert error is not None and "parser.max_memory_mb=3000" in str(error)
    assert results["note.txt"][0].error is None and results["note.txt"][0].elements


def test_running_out_of_memory_inside_unstructured_names_the_limit(tmp_path: Path) -> None:
    """A one-line 199 MB Markdown file ran unstructured out of memory, and the loader turned
    the MemoryError into "cannot parse the file (MemoryError: )"; it now reaches the parser
    process, which names parser.max_memory_mb (as the test above shows for a CSV file)."""
    from ingest.loaders.unstructured import UnstructuredLoader
    from rag.config import ParserConfig

    def out_of_memory(**kwargs: object) -> list[object]:
        raise MemoryError

    loader = UnstructuredLoader(ParserConfig())
    loader._partition = out_of_memory
    note = tmp_path / "huge.md"
    note.write_text("# A heading\n\nsome text\n", encoding="utf-8")
    with pytest.raises(MemoryError):
        loader._run(note)
