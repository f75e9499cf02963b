"""`rag models check`, `rag models ollama-create` and `rag ask` with the ollama backend:
the openai side against the real llama.cpp server, the ollama side against OllamaStandIn
(a STAND-IN for Ollama's API; see tests/support/ollama_standin.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from rag.cli import main
from rag.config import GenerationParams, GeneratorConfig, RagConfig
from tests.generate.conftest import MODEL, free_port
from tests.support.app import ingest, pipeline_of
from tests.support.ollama_standin import OllamaStandIn

GUIDE = Path(__file__).resolve().parents[2] / "examples" / "guide"


@pytest.fixture
def ollama() -> Iterator[OllamaStandIn]:
    with OllamaStandIn() as server:
        server.add_model("security", context_length=8192)
        yield server


def _use(monkeypatch: pytest.MonkeyPatch, backend: str, url: str, model: str) -> None:
    monkeypatch.setenv("RAG_GENERATOR__BACKEND", backend)
    monkeypatch.setenv("RAG_GENERATOR__BASE_URL", url)
    monkeypatch.setenv("RAG_GENERATOR__MODEL", model)


def test_check_finds_the_served_model(
    llama_server: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _use(monkeypatch, "openai", llama_server, MODEL)
    assert main(["models", "check"]) == 0
    out = capsys.readouterr().out
    assert f" * {MODEL}" in out and f"ok: {MODEL} is served" in out


def test_check_names_a_missing_model_and_close_ones(
    llama_server: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _use(monkeypatch, "openai", llama_server, "tinyy")
    assert main(["models", "check"]) == 1
    err = capsys.readouterr().err
    assert "'tinyy' is not among them; close: tiny" in err and "--lora-modules" in err


def test_check_on_ollama_reads_the_context_and_warns_when_too_small(
    ollama: OllamaStandIn, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _use(monkeypatch, "ollama", ollama.url, "security")
    assert main(["models", "check"]) == 0
    out = capsys.readouterr().out
    assert "security:latest" in out and "model context: 8192 tokens" in out
    monkeypatch.setenv("RAG_GENERATOR__CONTEXT_WINDOW", "16384")
    assert main(["models", "check"]) == 0
    assert "context_window (16384) is larger than the model's context (8192)" in (
        capsys.readouterr().err
    )


def test_check_without_a_model_or_server_is_a_clear_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RAG_GENERATOR__BACKEND", raising=False)
    assert main(["models", "check"]) == 2
    assert "generator.backend is none" in capsys.readouterr().err
    dead = f"http://127.0.0.1:{free_port()}/v1"
    _use(monkeypatch, "openai", dead, MODEL)
    monkeypatch.setenv("RAG_GENERATOR__BACKOFF_S", "0.05")
    assert main(["models", "check"]) == 2
    err = capsys.readouterr().err
    assert "did not answer" in err and "Traceback" not in err


def test_ollama_create_writes_the_modelfile_and_registers_the_gguf(
    ollama: OllamaStandIn,
    tiny_gguf: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    gguf = tmp_path / "security-tiny.gguf"
    gguf.write_bytes(tiny_gguf.read_bytes())
    system = tmp_path / "system.txt"
    system.write_text("Answer from the context only.", encoding="utf-8")
    args = ["models", "ollama-create", "--gguf", str(gguf), "--name", "sec-tiny"]
    args += ["--system", f"@{system}", "--param", "temperature=0.2"]
    args += ["--param", "stop=<|user|>", "--param", "num_ctx=2048", "--base-url", ollama.url]
    assert main(args) == 0
    modelfile = (tmp_path / "security-tiny.Modelfile").read_text(encoding="utf-8")
    assert modelfile.splitlines() == [
        "FROM ./security-tiny.gguf",
        'SYSTEM """Answer from the context only."""',
        "PARAMETER temperature 0.2",
        'PARAMETER stop "<|user|>"',
        "PARAMETER num_ctx 2048",
    ]
    registered = ollama.models["sec-tiny:latest"]
    assert registered.system == "Answer from the context only."
    assert registered.parameters == {"temperature": 0.2, "stop": ["<|user|>"], "num_ctx": 2048}
    assert registered.context_length == 2048  # read from the uploaded GGUF
    assert "registered sec-tiny" in capsys.readouterr().out


def test_ollama_create_refuses_bad_input(
    ollama: OllamaStandIn, tiny_gguf: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["models", "ollama-create", "--name", "x", "--base-url", ollama.url]
    assert main([*base, "--gguf", "/nowhere/model.gguf"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main([*base, "--gguf", str(tiny_gguf), "--param", "temprature=0.2"]) == 2
    assert "no such parameter; use one of" in capsys.readouterr().err
    assert main([*base, "--gguf", str(tiny_gguf), "--param", "top_k=high"]) == 2
    assert "top_k takes a int" in capsys.readouterr().err
    assert main([*base, "--gguf", str(tiny_gguf), "--system", "@/nowhere.txt"]) == 2
    assert "x:latest" not in ollama.models


@pytest.fixture
def guide_index(tmp_path: Path) -> RagConfig:
    config = RagConfig(data_dir=tmp_path / "index")
    assert ingest(config, [GUIDE]).exit_code == 0
    return config


def test_ask_streams_from_ollama_with_every_flag_mapped(
    guide_index: RagConfig,
    ollama: OllamaStandIn,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RAG_DATA_DIR", str(guide_index.data_dir))
    _use(monkeypatch, "ollama", ollama.url, "security")
    flags = ["--temperature", "0", "--top-p", "0.8", "--sampling-top-k", "7"]
    flags += ["--repetition-penalty", "1.1", "--max-tokens", "64", "--seed", "5"]
    flags += ["--stop", "Unused"]
    assert main(["ask", "How do I remove a document from the index?", *flags]) == 0
    out, err = capsys.readouterr()
    # The scripted reply stops before "Unused"; its [1] marker stays.
    assert out.startswith("Employees get twenty days of paid leave [1].") and "Sources:" in out
    options = ollama.chats[-1]["options"]
    assert options == {
        "temperature": 0.0,
        "top_p": 0.8,
        "top_k": 7,
        "repeat_penalty": 1.1,
        "num_predict": 64,
        "stop": ["Unused"],
        "seed": 5,
        "num_ctx": 2048,
    }
    # Without --stop the reply's [9] points to no source: removed, and said so.
    assert main(["ask", "How do I remove a document from the index?"]) == 0
    out, err = capsys.readouterr()
    assert "Unused days carry over.\n" in out and "[9]" not in out
    assert "removed 1 citation(s)" in err


def test_parameters_can_be_overridden_per_request(
    guide_index: RagConfig, ollama: OllamaStandIn
) -> None:
    generator = GeneratorConfig(backend="ollama", base_url=ollama.url, model="security")
    config = guide_index.model_copy(update={"generator": generator})
    with pipeline_of(config) as pipeline:
        configured = pipeline.ask("How do I remove a document?")
        hot = pipeline.ask(
            "How do I remove a document?",
            params=GenerationParams(temperature=0.9, max_tokens=4, repetition_penalty=1.3),
        )
    first, second = (c["options"] for c in ollama.chats)
    assert first["temperature"] == 0.1 and first["num_predict"] == 512
    assert second["temperature"] == 0.9 and second["num_predict"] == 4
    assert second["repeat_penalty"] == 1.3
    assert hot.text == "Employees get twenty days" and len(configured.text) > len(hot.text)
    assert any("cut at max_tokens (4)" in w for w in hot.warnings)


def test_ask_json_reports_citations_and_warnings(
    guide_index: RagConfig,
    ollama: OllamaStandIn,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RAG_DATA_DIR", str(guide_index.data_dir))
    _use(monkeypatch, "ollama", ollama.url, "security")
    question = "How do I remove a document from the index?"
    assert main(["ask", question, "--json", "--max-tokens", "64"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["answer"].endswith("Unused days carry over.")
    assert payload["cited"] == [1] and payload["invalid_citations"] == 1
    assert payload["fallback"] is False and payload["warnings"] == []
    assert {"search", "compress", "generate"} <= set(payload["timings_ms"])
    assert main(["ask", question, "--json", "--max-tokens", "3"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["warnings"] == [
        "the answer was cut at max_tokens (3); raise generator.params.max_tokens for longer answers"
    ]
