"""The `openai` backend against a real llama.cpp server (tiny random model: gibberish text,
real protocol): streaming, max_tokens, stop, parameter passing, model listing, timeouts,
retries, the circuit breaker."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest

from rag.config import GenerationParams, GeneratorConfig
from rag.errors import GenerationError, ModelUnreachableError
from rag.generate.openai_backend import OpenAIBackend
from tests.generate.conftest import MODEL, free_port, start_server

GREEDY = GenerationParams(temperature=0.0, max_tokens=24, seed=1)
ASK = [{"role": "user", "content": "How many days of paid leave do employees get?"}]


def _backend(base_url: str, **config: object) -> OpenAIBackend:
    return OpenAIBackend(
        GeneratorConfig(backend="openai", base_url=base_url, model=MODEL, **config)  # type: ignore[arg-type]
    )


def test_lists_the_served_model(llama_server: str) -> None:
    assert [m.name for m in _backend(llama_server).models()] == [MODEL]


def test_streams_pieces_within_max_tokens(llama_server: str) -> None:
    pieces = list(_backend(llama_server).stream(ASK, GREEDY.model_copy(update={"max_tokens": 6})))
    assert 1 < len(pieces) <= 6
    assert all(isinstance(p, str) and p for p in pieces)


def test_greedy_is_deterministic_and_stop_cuts_the_text(llama_server: str) -> None:
    backend = _backend(llama_server)
    text = backend.chat(ASK, GREEDY)
    assert text == backend.chat(ASK, GREEDY) and len(text) > 4
    stop = text[len(text) // 2 :][:2]
    cut = backend.chat(ASK, GREEDY.model_copy(update={"stop": [stop]}))
    assert cut == text[: text.index(stop)]


def test_sampling_parameters_reach_the_server(llama_server: str) -> None:
    backend = _backend(llama_server)
    hot = GenerationParams(temperature=1.5, max_tokens=24)
    greedy = backend.chat(ASK, GREEDY)
    # top_k (an extra-body field) = 1 turns hot sampling into greedy decoding.
    assert backend.chat(ASK, hot.model_copy(update={"top_k": 1})) == greedy
    # seed: the same seed gives the same sample; different seeds differ.
    samples = {backend.chat(ASK, hot.model_copy(update={"seed": s})) for s in (1, 2, 3)}
    assert backend.chat(ASK, hot.model_copy(update={"seed": 1})) in samples
    assert len(samples) > 1


def _silent_server() -> tuple[int, threading.Event]:
    """A TCP server that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    stop = threading.Event()
    held: list[socket.socket] = []

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                continue
        for conn in held:
            conn.close()
        listener.close()

    threading.Thread(target=accept, daemon=True).start()
    return int(listener.getsockname()[1]), stop


def test_read_timeout_in_seconds_not_minutes() -> None:
    port, stop = _silent_server()
    try:
        backend = _backend(
            f"http://127.0.0.1:{port}/v1", read_timeout_s=0.5, retries=1, backoff_s=0.1
        )
        started = time.monotonic()
        with pytest.raises(ModelUnreachableError, match="did not answer after 2 tries"):
            backend.chat(ASK, GREEDY)
        assert time.monotonic() - started < 5
    finally:
        stop.set()


def test_retries_reach_a_server_that_comes_back(tiny_gguf: Path) -> None:
    port = free_port()
    backend = _backend(f"http://127.0.0.1:{port}/v1", retries=6, backoff_s=0.5)
    server = None

    def start_later() -> None:
        nonlocal server
        time.sleep(1.0)
        server = start_server(tiny_gguf, port)

    starter = threading.Thread(target=start_later)
    starter.start()
    try:
        assert [m.name for m in backend.models()] == [MODEL]  # refused at first, then served
    finally:
        starter.join()
        if server is not None:
            server.terminate()
            server.wait(timeout=10)


def test_circuit_breaker_stops_calling_a_dead_server() -> None:
    port = free_port()  # nothing listens here
    backend = _backend(
        f"http://127.0.0.1:{port}/v1", retries=0, breaker_failures=2, breaker_reset_s=60
    )
    for _ in range(2):
        with pytest.raises(ModelUnreachableError, match="did not answer"):
            backend.chat(ASK, GREEDY)
    started = time.monotonic()
    with pytest.raises(ModelUnreachableError, match="circuit breaker"):
        backend.chat(ASK, GREEDY)
    assert time.monotonic() - started < 0.05


def test_missing_settings_say_what_to_set() -> None:
    from rag.errors import ConfigError

    with pytest.raises(ConfigError, match="RAG_GENERATOR__BASE_URL"):
        OpenAIBackend(GeneratorConfig(backend="openai"))
    assert issubclass(ModelUnreachableError, GenerationError)
