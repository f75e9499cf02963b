"""The `ollama` backend through the official `ollama` client, against OllamaStandIn: a
STAND-IN server implementing Ollama's documented API shapes (no Ollama can be installed
here). What the stand-in cannot show (a real model's templates, real truncation, load
times) is listed in tests/support/ollama_standin.py."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rag.config import GenerationParams, GeneratorConfig
from rag.errors import ConfigError, GenerationError, ModelUnreachableError
from rag.generate.ollama_backend import OllamaBackend, num_ctx_for, ollama_options
from rag.generate.tokens import EstimatedCounter, ModelTokenCounter, prompt_tokens
from tests.generate.conftest import free_port
from tests.support.ollama_standin import DEFAULT_REPLY, OllamaStandIn

ASK = [{"role": "user", "content": "How many days of paid leave do employees get?"}]


@pytest.fixture
def ollama() -> Iterator[OllamaStandIn]:
    with OllamaStandIn() as server:
        server.add_model("security", context_length=8192)
        yield server


def _backend(url: str, **config: object) -> OllamaBackend:
    settings: dict[str, object] = {"retries": 1, "backoff_s": 0.05, "model": "security", **config}
    generator = GeneratorConfig(backend="ollama", base_url=url, **settings)  # type: ignore[arg-type]
    return OllamaBackend(generator, EstimatedCounter())


def test_every_parameter_goes_by_ollamas_name() -> None:
    params = GenerationParams(
        temperature=0.3,
        top_p=0.9,
        top_k=20,
        repetition_penalty=1.15,
        max_tokens=128,
        stop=["</s>"],
        seed=7,
        presence_penalty=0.5,
        frequency_penalty=0.25,
    )
    assert ollama_options(params, num_ctx=4096) == {
        "temperature": 0.3,
        "top_p": 0.9,
        "top_k": 20,
        "repeat_penalty": 1.15,
        "num_predict": 128,
        "stop": ["</s>"],
        "seed": 7,
        "presence_penalty": 0.5,
        "frequency_penalty": 0.25,
        "num_ctx": 4096,
    }
    assert ollama_options(GenerationParams(temperature=None, max_tokens=None)) == {}


def test_num_ctx_is_a_power_of_two_within_the_model() -> None:
    assert num_ctx_for(100, None) == 2048
    assert num_ctx_for(2049, None) == 4096
    assert num_ctx_for(5000, 8192) == 8192
    assert num_ctx_for(9000, 8192) == 8192


def test_streams_the_reply_with_options_num_ctx_and_keep_alive(ollama: OllamaStandIn) -> None:
    backend = _backend(ollama.url, keep_alive="30m")
    params = GenerationParams(temperature=0.0, top_k=5, repetition_penalty=1.2, seed=3)
    pieces = list(backend.stream(ASK, params))
    assert len(pieces) > 3 and "".join(pieces) == DEFAULT_REPLY
    sent = ollama.chats[-1]
    assert sent["model"] == "security" and sent["stream"] is True
    assert sent["keep_alive"] == "30m"
    assert sent["messages"] == ASK
    options = sent["options"]
    assert options["repeat_penalty"] == 1.2 and options["top_k"] == 5 and options["seed"] == 3
    assert options["num_predict"] == 512  # GenerationParams' max_tokens default
    assert "repetition_penalty" not in options and "max_tokens" not in options
    assert options["num_ctx"] == 2048  # a short prompt + 512 answer tokens


def test_num_ctx_grows_with_the_prompt(ollama: OllamaStandIn) -> None:
    backend = _backend(ollama.url)
    long = [{"role": "user", "content": "leave policy details. " * 1200}]
    needed = prompt_tokens(EstimatedCounter(), long) + 512
    list(backend.stream(long, GenerationParams()))
    assert ollama.chats[-1]["options"]["num_ctx"] == num_ctx_for(needed, 8192) == 8192
    assert needed > 4096


def test_a_prompt_beyond_the_models_context_warns(ollama: OllamaStandIn) -> None:
    ollama.add_model("small", context_length=2048)
    backend = _backend(ollama.url, model="small")
    warnings: list[str] = []
    long = [{"role": "user", "content": "leave policy details. " * 600}]
    list(backend.stream(long, GenerationParams(), warnings.append))
    assert ollama.chats[-1]["options"]["num_ctx"] == 2048
    assert len(warnings) == 1 and "does not fit small's context of 2048" in warnings[0]
    assert "retrieval.top_k" in warnings[0]


def test_the_models_tokenizer_sizes_the_context(
    ollama: OllamaStandIn, tmp_path: Path, tiny_tokenizer: Path
) -> None:
    counter = ModelTokenCounter.load(str(tiny_tokenizer))
    config = GeneratorConfig(backend="ollama", base_url=ollama.url, model="security")
    backend = OllamaBackend(config, counter)
    # Characters outside the tiny vocabulary cost 3 byte tokens each: twice the estimate.
    text = [{"role": "user", "content": "量子计算" * 300}]
    exact = prompt_tokens(counter, text)
    estimate = prompt_tokens(EstimatedCounter(), text)
    assert exact > estimate * 1.8
    list(backend.stream(text, GenerationParams()))
    sent = ollama.chats[-1]["options"]["num_ctx"]
    assert sent == num_ctx_for(exact + 512, 8192) == 8192
    assert sent > num_ctx_for(estimate + 512, 8192)


def test_max_tokens_and_stop_end_the_reply(ollama: OllamaStandIn) -> None:
    backend = _backend(ollama.url)
    warnings: list[str] = []
    short = "".join(backend.stream(ASK, GenerationParams(max_tokens=3), warnings.append))
    assert short == "Employees get twenty "
    assert warnings and "cut at max_tokens (3)" in warnings[0]
    stopped = backend.chat(ASK, GenerationParams(stop=["days"]))
    assert stopped == "Employees get twenty "


def test_lists_models_and_reads_the_context_length(ollama: OllamaStandIn) -> None:
    backend = _backend(ollama.url)
    assert [m.name for m in backend.models()] == ["security:latest"]
    assert backend.context_length("security") == 8192


def test_unknown_model_is_a_clear_error(ollama: OllamaStandIn) -> None:
    backend = _backend(ollama.url, model="nope")
    with pytest.raises(GenerationError, match="no model 'nope'.*rag models"):
        backend.chat(ASK, GenerationParams())


def test_model_is_required() -> None:
    with pytest.raises(ConfigError, match="RAG_GENERATOR__MODEL"):
        OllamaBackend(GeneratorConfig(backend="ollama"), EstimatedCounter())


def test_overloaded_server_is_retried(ollama: OllamaStandIn) -> None:
    ollama.fail_next = [503]
    assert _backend(ollama.url).chat(ASK, GenerationParams()) == DEFAULT_REPLY
    assert len(ollama.chats) == 2


def test_unreachable_server_fails_fast_then_the_breaker_opens() -> None:
    backend = _backend(f"http://127.0.0.1:{free_port()}", breaker_failures=1)
    started = time.monotonic()
    with pytest.raises(ModelUnreachableError, match="did not answer after 2 tries"):
        backend.chat(ASK, GenerationParams())
    assert time.monotonic() - started < 5
    with pytest.raises(ModelUnreachableError, match="circuit breaker"):
        backend.chat(ASK, GenerationParams())


def test_a_server_that_does_not_answer_times_out(ollama: OllamaStandIn) -> None:
    ollama.hang.set()
    backend = _backend(ollama.url, read_timeout_s=0.5, retries=0)
    started = time.monotonic()
    with pytest.raises(ModelUnreachableError):
        backend.chat(ASK, GenerationParams())
    assert time.monotonic() - started < 3


def test_create_uploads_the_gguf_and_registers_it(ollama: OllamaStandIn, tiny_gguf: Path) -> None:
    backend = _backend(ollama.url)
    statuses: list[str] = []
    backend.create(
        "tiny",
        tiny_gguf,
        system="Answer briefly.",
        parameters={"temperature": 0.2, "stop": ["<|user|>"]},
        progress=statuses.append,
    )
    assert statuses[-1] == "success"
    assert "tiny:latest" in [m.name for m in backend.models()]
    # The stand-in read the context length from the uploaded GGUF's header.
    assert backend.context_length("tiny") == 2048
    assert ollama.models["tiny:latest"].parameters == {"temperature": 0.2, "stop": ["<|user|>"]}
    assert ollama.models["tiny:latest"].system == "Answer briefly."


def test_create_refuses_a_file_that_is_not_gguf(ollama: OllamaStandIn, tmp_path: Path) -> None:
    fake = tmp_path / "fake.gguf"
    fake.write_bytes(b"not a gguf file at all" * 10)
    with pytest.raises(GenerationError, match="invalid GGUF"):
        _backend(ollama.url).create("fake", fake)
