"""The `rag` command end to end: the console script, exit codes, JSON output."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rag.cli import main

REPO = Path(__file__).resolve().parents[1]
GUIDE = REPO / "examples" / "guide"


def test_ask_on_empty_index_exits_2(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ask", "anything?"]) == 2
    assert "rag ingest" in capsys.readouterr().err


def test_ingest_guide_and_ask_with_citations(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ingest", "--quiet", str(GUIDE)]) == 0
    assert "parsed 4, skipped 0, failed 0" in capsys.readouterr().out
    assert main(["ingest", str(GUIDE)]) == 0
    assert "nothing changed" in capsys.readouterr().out

    assert main(["ask", "How do I remove a document from the index?", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert set(payload) >= {"answer", "sources"}
    assert "[1]" in payload["answer"] and "rag delete" in payload["answer"]
    first = payload["sources"][0]
    assert set(first) >= {"n", "source", "page", "section", "score", "text"}
    assert first["n"] == 1 and first["source"].endswith("user-guide.md")
    assert first["section"].endswith("Removing documents")
    assert [s["score"] for s in payload["sources"]] == sorted(
        (s["score"] for s in payload["sources"]), reverse=True
    )

    assert main(["ask", "如何删除文档？", "--top-k", "3"]) == 0
    out = capsys.readouterr().out
    # at most the 3 asked for; only those confident enough to be context are listed
    assert "Sources:" in out and "[1]" in out and "[4]" not in out
    assert "(confidence " in out

    assert main(["ask", "How do I remove a document from the index?", "--explain"]) == 0
    out = capsys.readouterr().out
    assert "queries searched: How do I remove a document from the index?" in out
    first = out.split("#1 ", 1)[1].splitlines()[1]
    assert re.search(r"fused 1:[\d.]+$", first), first
    assert re.search(r"dense \d+:[-\d.]+", out) and re.search(r"bm25 \d+:[\d.]+", out)
    assert "context: " in out and "characters after compression" in out
    assert "Sources:" in out


def test_delete_unknown_source_exits_1(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ingest", "--quiet", str(GUIDE / "faq.html")]) == 0
    assert main(["delete", "no-such-file.pdf"]) == 1
    assert main(["delete", str(GUIDE / "faq.html")]) == 0
    assert "removed" in capsys.readouterr().out


def test_failed_file_exits_1_with_reason(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "empty.txt").write_text("   \n", encoding="utf-8")
    shutil.copy(GUIDE / "faq.html", folder)
    assert main(["ingest", "--quiet", str(folder)]) == 1
    out = capsys.readouterr().out
    assert "empty.txt" in out and "no text found" in out


def test_bad_config_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "rag.toml"
    bad.write_text("[retrieval]\ntop_k = -2\n", encoding="utf-8")
    assert main(["--config", str(bad), "ask", "x"]) == 2
    assert "top_k" in capsys.readouterr().err


def test_console_script_is_installed(tmp_path: Path) -> None:
    exe = Path(sys.executable).parent / "rag"
    assert exe.is_file(), "the `rag` console script is not installed next to python"
    out = subprocess.run([str(exe), "--help"], capture_output=True, text=True, check=True)
    assert "ingest" in out.stdout and "ask" in out.stdout and "delete" in out.stdout


def test_models_prepare_exports_the_embedder_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RAG_EMBEDDER__CACHE_DIR", str(tmp_path / "onnx"))
    assert main(["models", "prepare"]) == 0
    out = capsys.readouterr().out
    assert re.search(
        r"all-MiniLM-L6-v2 ready on openvino-int8 \(dimension 384, sha256 \w{12}\)", out
    )
    exported = [p for p in (tmp_path / "onnx").glob("*-openvino-int8-r*") if p.is_dir()]
    assert len(exported) == 1
    stamp = exported[0].stat().st_mtime_ns
    assert main(["models", "prepare"]) == 0  # loaded from the cache, not exported again
    assert exported[0].stat().st_mtime_ns == stamp
