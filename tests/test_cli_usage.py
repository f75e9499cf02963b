"""What a new user runs into: bad values, typos, locks, empty questions, exit codes, help.

Each test is one defect found by trying the CLI as a new user would (issue 13, item 6).
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

import rag.runtime
from rag.cli import ExitCode, main
from rag.config import RagConfig
from rag.locks import WriteLock
from tests.support.app import ingest
from tests.test_cli import GUIDE


@pytest.fixture
def guide(data_dir: Path) -> Path:
    assert ingest(RagConfig(data_dir=data_dir), [GUIDE]).exit_code == 0
    return data_dir


@pytest.fixture
def no_model(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records (and refuses) any load of the embedding model."""
    calls: list[str] = []

    def refuse(config: object) -> None:
        calls.append("loaded")
        raise AssertionError("the embedding model was loaded")

    monkeypatch.setattr(rag.runtime, "create_embedder", refuse)
    return calls


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--top-k", "0"], "retrieval.top_k = 0"),
        (["--top-k", "-3"], "retrieval.top_k = -3"),
        (["--temperature", "-1"], "temperature = -1.0"),
        (["--max-tokens", "0"], "max_tokens = 0"),
    ],
)
def test_bad_values_are_usage_errors(
    guide: Path, flags: list[str], named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ask", "How do I remove a document?", *flags]) == ExitCode.USAGE
    assert named in capsys.readouterr().err


def test_unknown_backend_flag_is_refused_with_the_choices(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["ask", "q", "--backend", "nosuch"])
    assert stop.value.code == ExitCode.USAGE
    assert "choose from" in capsys.readouterr().err


def test_empty_question_is_a_usage_error(guide: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ask", "  "]) == ExitCode.USAGE
    assert "the question is empty" in capsys.readouterr().err


def test_misspelled_backend_writes_nothing(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RAG_STORE__BACKEND", "chromaa")
    assert main(["ingest", "--quiet", str(GUIDE / "faq.html")]) == ExitCode.USAGE
    assert "did you mean 'chroma'" in capsys.readouterr().err
    assert not (data_dir / "manifest.json").exists()
    monkeypatch.setenv("RAG_STORE__BACKEND", "chroma")
    assert main(["ingest", "--quiet", str(GUIDE / "faq.html")]) == ExitCode.OK


def test_misspelled_variable_warns_with_the_closest_setting(
    guide: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RAG_RETREIVAL__TOP_K", "8")
    assert main(["stats"]) == ExitCode.OK
    err = capsys.readouterr().err
    assert "RAG_RETREIVAL__TOP_K matches no setting" in err and "RAG_RETRIEVAL__TOP_K" in err


def test_locked_index_is_refused_before_the_model_loads(
    data_dir: Path, no_model: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    lock = WriteLock(data_dir / "write.lock", wait_s=0)
    try:
        started = time.monotonic()
        assert main(["ingest", "--quiet", str(GUIDE)]) == ExitCode.USAGE
        waited = time.monotonic() - started
    finally:
        lock.release()
    assert no_model == [] and waited < 10
    assert "is being written by process" in capsys.readouterr().err


def test_stats_and_delete_do_not_load_the_model(
    guide: Path, no_model: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["stats"]) == ExitCode.OK
    assert "all-MiniLM-L6-v2 (dimension 384)" in capsys.readouterr().out
    assert main(["delete", str(GUIDE / "faq.html")]) == ExitCode.OK
    assert no_model == []


def test_json_lists_the_cited_sources(guide: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ask", "How do I remove a document from the index?", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    markers = {int(n) for n in re.findall(r"\[(\d+)\]", payload["answer"])}
    assert markers and set(payload["cited"]) == markers


def test_chinese_answers_use_the_same_score_scale(
    guide: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ask", "如何删除文档？", "--json"]) == 0
    scores = [s["score"] for s in json.loads(capsys.readouterr().out)["sources"]]
    assert scores and all(0.0 <= s <= 1.0 for s in scores) and scores[0] == 1.0


def test_a_question_nothing_matches_says_so(
    guide: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ask", "年假有几天？", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    if payload["sources"]:
        assert "下面列出了最接近的段落" in payload["answer"]
    else:
        assert "下面" not in payload["answer"] and payload["no_context"]


def test_reindex_error_keeps_its_brackets(guide: Path, capsys: pytest.CaptureFixture[str]) -> None:
    same = guide.parent / "same.toml"
    same.write_text(f'data_dir = "{guide}"\n', encoding="utf-8")
    assert main(["reindex", "--to", str(same)]) == ExitCode.USAGE
    assert "the target's [store] is the source's" in capsys.readouterr().err


def test_internal_error_prints_one_line_and_logs_the_traceback(
    guide: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr("ingest.reindex.stats", broken)
    assert main(["stats"]) == ExitCode.INTERNAL
    err = capsys.readouterr().err.strip()
    assert "internal error: RuntimeError: boom" in err and len(err.splitlines()) <= 2
    log = guide / "errors.log"
    assert "Traceback" in log.read_text(encoding="utf-8")


def test_version_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out.startswith("rag ")
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "exit codes:" in out and "130" in out and "RAG_CONFIG" in out


def test_empty_data_dir_opens_as_an_empty_index(tmp_path: Path) -> None:
    config = RagConfig(data_dir=tmp_path / "nothing")
    with rag.runtime.Runtime.open(config) as runtime:
        assert runtime.kb().pipeline.search.retrieve("anything", 5) == []
    assert not (tmp_path / "nothing").exists()
