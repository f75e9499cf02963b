"""A real OpenAI-compatible server for the generation tests: llama.cpp (llama-cpp-python's
server) serving the tiny random LLaMA the tests write as GGUF. Skips when llama-cpp-python
is not installed (the dev extra installs it)."""

from __future__ import annotations

import importlib.util
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.tiny_gguf import write_tiny_llama

MODEL = "tiny"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(model: Path, port: int) -> subprocess.Popen[bytes]:
    """Start `python -m llama_cpp.server` for `model` on `port` (not waiting for it)."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(model),
            "--model_alias",
            MODEL,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--n_ctx",
            "2048",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def wait_ready(port: int, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"llama.cpp server on port {port} did not start in {timeout_s} s")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tiny.gguf and its tokenizer (tokenizer/), as a converted fine-tune's folder holds."""
    folder = tmp_path_factory.mktemp("gguf")
    write_tiny_llama(folder / "tiny.gguf", tokenizer_dir=folder / "tokenizer")
    return folder


@pytest.fixture(scope="session")
def tiny_gguf(tiny_model_dir: Path) -> Path:
    return tiny_model_dir / "tiny.gguf"


@pytest.fixture(scope="session")
def tiny_tokenizer(tiny_model_dir: Path) -> Path:
    return tiny_model_dir / "tokenizer"


@pytest.fixture(scope="session")
def llama_server(tiny_gguf: Path) -> Iterator[str]:
    """Base URL (`.../v1`) of a running llama.cpp server with the tiny model as `tiny`."""
    if importlib.util.find_spec("llama_cpp") is None:
        pytest.skip("llama-cpp-python[server] is not installed; run `pip install -e '.[dev]'`")
    port = free_port()
    server = start_server(tiny_gguf, port)
    try:
        wait_ready(port)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        server.terminate()
        server.wait(timeout=10)
