"""`rag eval run` end to end through the CLI on the guide and its question set: two
configurations compared with p-values, the three report files, the gate failing and
passing, and two model names on the real llama.cpp server crossed with retrieval (the 2x2
grid), where the tiny model's gibberish comes out unjudged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag.cli import ExitCode, main
from rag.config import RagConfig
from tests.support.app import ingest
from tests.support.llama import MODEL

ROOT = Path(__file__).resolve().parents[2]
QUESTIONS = ROOT / "examples" / "eval" / "guide_questions.jsonl"
DEFAULT, BM25 = (
    ROOT / "examples" / "eval" / "default.toml",
    ROOT / "examples" / "eval" / "bm25.toml",
)


@pytest.fixture(scope="module")
def guide_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("guide") / ".rag"
    ingest(RagConfig(data_dir=data), [ROOT / "examples" / "guide"])
    return data


def _run(out: Path, *extra: str) -> int:
    args = ["eval", "run", "--dataset", str(QUESTIONS), "--out", str(out), "-q"]
    return main([*args, "--config", str(DEFAULT), "--config", str(BM25), *extra])


def test_two_configurations_and_the_gate(
    guide_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAG_DATA_DIR", str(guide_dir))
    first = tmp_path / "first"
    assert _run(first) == ExitCode.OK
    assert {p.name for p in first.iterdir()} == {"report.html", "report.md", "results.json"}
    data = json.loads((first / "results.json").read_text())
    assert [s["name"] for s in data["systems"]] == ["default", "bm25"]
    assert data["summary"]["default"]["ndcg@10"]["n"] == 8  # every question has a source
    for name in ("rouge_l", "bleu", "exact_match", "contains_answer"):
        assert data["summary"]["default"][name]["n"] == 8  # extractive answers, scored
    assert "faithfulness" not in data["summary"]["default"]  # no model: no judge
    assert data["meta"]["judge"].startswith("none")
    assert data["meta"]["command"].startswith("rag eval run --dataset")
    assert data["systems"][1]["config"]["retrieval"]["mode"] == "bm25"
    assert data["systems"][0]["manifest"]["embedder"]["name"]
    compared = {(c["name"], c["metric"]) for c in data["comparisons"]}
    assert ("bm25", "ndcg@10") in compared
    assert all(0 < c["p_value"] <= 1 for c in data["comparisons"])
    question = data["systems"][0]["questions"][0]
    assert question["answer"] and question["passages"] and question["latency_ms"]["retrieval"] > 0
    markdown = (first / "report.md").read_text()
    assert "## Against default" in markdown and "| bm25 | ndcg@10 |" in markdown

    # The same run gated against itself passes; against a better baseline it fails.
    gated = ["--baseline", str(first / "results.json"), "--fail-under", "ndcg@10=-0.01"]
    assert _run(tmp_path / "second", *gated) == ExitCode.OK
    for system in data["systems"]:
        for q in system["questions"]:
            q["scores"]["ndcg@10"] = 1.0
            q["scores"]["rouge_l"] = 1.0
    better = tmp_path / "better.json"
    better.write_text(json.dumps(data))
    gated = ["--baseline", str(better), "--fail-under", "ndcg@10=-0.01,rouge_l=-0.05"]
    assert _run(tmp_path / "third", *gated) == ExitCode.REGRESSION
    gated = ["--baseline", str(better), "--fail-under", "nope=0"]
    assert _run(tmp_path / "fourth", *gated) == ExitCode.USAGE  # before the long run
    assert not (tmp_path / "fourth").exists()  # refused before anything ran or was written


def test_models_crossed_with_retrieval_on_the_tiny_model(
    guide_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    llama_server: str,
    tiny_tokenizer: Path,
) -> None:
    for key, value in {
        "RAG_DATA_DIR": str(guide_dir),
        "RAG_GENERATOR__BACKEND": "openai",
        "RAG_GENERATOR__BASE_URL": llama_server,
        "RAG_GENERATOR__MODEL": MODEL,
        "RAG_GENERATOR__TOKENIZER": str(tiny_tokenizer),
        "RAG_GENERATOR__CONTEXT_WINDOW": "2048",
        "RAG_GENERATOR__PARAMS__MAX_TOKENS": "16",
        "RAG_GENERATOR__PARAMS__TEMPERATURE": "0",
        "RAG_EVAL__JUDGE__MAX_TOKENS": "32",
        "RAG_REWRITE__STRATEGIES": "[]",
    }.items():
        monkeypatch.setenv(key, value)
    out = tmp_path / "grid"
    args = ["eval", "run", "--dataset", str(QUESTIONS), "--out", str(out), "-q"]
    # llama-cpp-python serves its one model under any requested name: two "models" here
    assert main([*args, "--model", MODEL, "--model", "tiny-lora"]) == ExitCode.OK
    data = json.loads((out / "results.json").read_text())
    names = [s["name"] for s in data["systems"]]
    assert names == ["default:tiny", "default:tiny-lora", "no-rag:tiny", "no-rag:tiny-lora"]
    assert data["meta"]["grid"] == {
        "tiny": {"rag": "default:tiny", "no_rag": "no-rag:tiny"},
        "tiny-lora": {"rag": "default:tiny-lora", "no_rag": "no-rag:tiny-lora"},
    }
    summary = data["summary"]
    for system in names:
        relevance = summary[system]["answer_relevance"]
        assert relevance["n"] == 0 and relevance["unjudged"] > 0  # gibberish: unjudged
        assert summary[system]["rouge_l"]["n"] == 8  # reference metrics still apply
    for system in names[:2]:
        assert summary[system]["ndcg@10"]["n"] == 8
        for metric in ("faithfulness", "context_precision", "context_recall"):
            assert summary[system].get(metric, {"n": 0})["n"] == 0
    assert "ndcg@10" not in summary["no-rag:tiny"]  # no retrieval, no retrieval metrics
    markdown = (out / "report.md").read_text()
    assert "## Models × retrieval" in markdown and "| rouge_l | tiny-lora |" in markdown
    assert '<table id="grid">' in (out / "report.html").read_text()
    assert "unjudged (" in markdown


def test_a_config_that_builds_the_index_differently_needs_docs(
    guide_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("RAG_DATA_DIR", str(guide_dir))
    small = tmp_path / "small-chunks.toml"
    small.write_text("[chunker]\nchunk_tokens = 64\noverlap_tokens = 8\n")
    args = ["eval", "run", "--dataset", str(QUESTIONS), "-q", "--retrieval-only"]
    configs = ["--config", str(DEFAULT), "--config", str(small)]
    assert main([*args, *configs, "--out", str(tmp_path / "refused")]) == ExitCode.USAGE
    assert "--docs FOLDER" in capsys.readouterr().err
    docs = ["--docs", str(ROOT / "examples" / "guide")]
    assert main([*args, *configs, *docs, "--out", str(tmp_path / "out")]) == ExitCode.OK
    data = json.loads((tmp_path / "out" / "results.json").read_text())
    first, second = (s["info"] for s in data["systems"])
    assert first["data_dir"] != second["data_dir"]  # one evaluation index each
    assert second["chunks_written"] > first["chunks_written"]  # smaller chunks: more of them
    assert data["summary"]["small-chunks"]["ndcg@10"]["n"] == 8
    assert data["systems"][0]["questions"][0]["answer"] is None  # --retrieval-only
