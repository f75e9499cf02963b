"""A real `rag serve` process on a loopback port, driven over HTTP (tests and the load
script). Its environment holds only what is given: the settings as RAG_ variables."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from tests.support.llama import free_port
from tests.support.loopback import wait_until_up

__all__ = ["ApiServer", "process_env", "rss_mb"]


class ApiServer:
    """`with ApiServer(data_dir, env) as server:` starts `rag serve`, waits until ready."""

    def __init__(
        self,
        data_dir: Path,
        settings: Mapping[str, Any] | None = None,
        *,
        args: tuple[str, ...] = (),
        log: Path | None = None,
    ) -> None:
        self.data_dir, self.port = data_dir, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._settings = dict(settings or {})
        self._args = args
        self.log = log or data_dir.parent / f"server-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def env(self) -> dict[str, str]:
        return process_env(self.data_dir, self._settings)

    def start(self, timeout_s: float = 120.0) -> None:
        command = [sys.executable, "-m", "rag.cli", "serve", "--port", str(self.port), *self._args]
        handle = self.log.open("ab")
        self.process = subprocess.Popen(
            command, env=self.env(), stdout=handle, stderr=subprocess.STDOUT
        )
        process = self.process
        try:
            wait_until_up(
                f"{self.url}/healthz",
                timeout_s,
                "rag serve",
                lambda: None if process.poll() is None else f"exit code {process.returncode}",
            )
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}: {self.log.read_text()[-3000:]}") from None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def client(self, key: str | None = None, timeout: float = 60.0) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def __enter__(self) -> ApiServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def process_env(data_dir: Path, settings: Mapping[str, Any]) -> dict[str, str]:
    """A `rag` process's environment: this one's without RAG_/HF_ variables, the hub
    offline, `data_dir` as RAG_DATA_DIR, and `settings` as RAG_ variables."""
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("RAG_", "HF_"))}
    keep.update(HF_HUB_OFFLINE="1", HF_HUB_DISABLE_PROGRESS_BARS="1")
    keep["RAG_DATA_DIR"] = str(data_dir)
    for name, value in settings.items():
        keep[name] = value if isinstance(value, str) else json.dumps(value)
    return keep


def rss_mb(pid: int) -> float:
    """Resident memory of a process, in MB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")
