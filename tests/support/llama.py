"""A real OpenAI-compatible server for the tests: llama.cpp (llama-cpp-python's server)
serving the tiny random LLaMA the tests write as GGUF (fixtures in tests/conftest.py)."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from tests.support.loopback import wait_until_up

MODEL = "tiny"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(
    model: Path, port: int, *, queue: bool = False, embedding: bool = False
) -> subprocess.Popen[bytes]:
    """Start `python -m llama_cpp.server` for `model` on `port` (not waiting for it). By
    default a new request cuts the running answer off (llama-cpp-python's default, which
    the generation tests rely on); with `queue`, requests wait their turn (as vLLM serves
    them concurrently), for the service's load and cancellation checks. With `embedding`,
    `/v1/embeddings` answers (one vector per text when the GGUF declares a pooling type)."""
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
            "--interrupt_requests",
            str(not queue),
            *(["--embedding", "true"] if embedding else []),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def wait_ready(port: int, timeout_s: float = 60.0) -> None:
    url = f"http://127.0.0.1:{port}/v1/models"
    wait_until_up(url, timeout_s, f"llama.cpp server on port {port}")
