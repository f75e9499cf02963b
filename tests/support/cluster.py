"""`rag worker` processes for the shared-deployment tests: each with its own empty data dir
and temporary folder, sharing nothing with the API processes but the settings given (the
database URL)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tests.support.api_server import process_env

__all__ = ["WorkerProcess", "rag_cli"]


class WorkerProcess:
    """`rag worker` in a subprocess; its output in `<folder>/worker.log`."""

    def __init__(
        self, folder: Path, settings: Mapping[str, Any], *args: str, name: str = ""
    ) -> None:
        self.folder, self._settings = folder, dict(settings)
        self._args = ["--name", name] if name else []
        self._args += list(args)
        self.log = folder / "worker.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> WorkerProcess:
        (self.folder / "tmp").mkdir(parents=True, exist_ok=True)
        env = process_env(self.folder / "data", self._settings)
        env["TMPDIR"] = str(self.folder / "tmp")
        command = [sys.executable, "-m", "rag.cli", "worker", *self._args]
        with self.log.open("ab") as handle:
            self.process = subprocess.Popen(
                command, env=env, stdout=handle, stderr=subprocess.STDOUT
            )
        return self

    def wait_ready(self, timeout_s: float = 120.0) -> WorkerProcess:
        """Return once the worker has its model and the database (it says so on stderr)."""
        deadline = time.monotonic() + timeout_s
        while "jobs from" not in self.log.read_text(errors="replace"):
            if not self.alive():
                raise RuntimeError(f"rag worker exited: {self.log.read_text()[-2000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"rag worker not ready after {timeout_s} s")
            time.sleep(0.2)
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def signal(self, sig: signal.Signals) -> None:
        if self.alive():
            assert self.process is not None
            self.process.send_signal(sig)

    def stop(self, timeout_s: float = 30.0) -> int | None:
        """SIGTERM, then wait (SIGKILL after `timeout_s`); the exit code."""
        if self.process is None:
            return None
        self.signal(signal.SIGCONT)
        self.signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        if self.process is not None:
            self.process.wait()


def rag_cli(
    data_dir: Path, settings: Mapping[str, Any], *args: str, timeout_s: float = 120
) -> subprocess.CompletedProcess[str]:
    """`rag <args>` run to its end as a process of its own (its own data dir, sharing only
    `settings` with the others), its output captured."""
    return subprocess.run(
        [sys.executable, "-m", "rag.cli", *args],
        env=process_env(data_dir, settings),
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
