"""Store servers for the tests, one per test session: `chroma run` and Milvus Lite's own
gRPC server (`milvus-lite server`, the named stand-in for a Milvus server: a real one cannot
run here), each on a free loopback port."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

__all__ = ["chroma_server", "milvus_server"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(check: Callable[[], bool], what: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (httpx.HTTPError, OSError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not start in {timeout_s} s")


def _serve(args: list[str], check: Callable[[], bool], what: str) -> Iterator[None]:
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait(check, what)
        yield
    finally:
        process.terminate()
        process.wait(timeout=20)


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    chroma = shutil.which("chroma", path=str(Path(sys.executable).parent))
    if chroma is None:
        pytest.skip("the `chroma` command is not installed")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    folder = tmp_path_factory.mktemp("chroma-server")
    args = [chroma, "run", "--path", str(folder), "--host", "127.0.0.1", "--port", str(port)]
    check = lambda: httpx.get(f"{url}/api/v2/heartbeat", timeout=1).status_code == 200  # noqa: E731
    yield from (url for _ in _serve(args, check, "chroma run"))


@pytest.fixture(scope="session")
def milvus_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = shutil.which("milvus-lite", path=str(Path(sys.executable).parent))
    if server is None:
        pytest.skip("milvus-lite is not installed; run `pip install -e '.[dev]'`")
    port = _free_port()
    folder = tmp_path_factory.mktemp("milvus-server")
    args = [server, "server", "--data-dir", str(folder), "--port", str(port)]

    def check() -> bool:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True

    yield from (f"http://127.0.0.1:{port}" for _ in _serve(args, check, "milvus-lite server"))
