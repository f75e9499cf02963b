"""What every report embeds about the run that made it: the command line, the time, the
library versions.

Example:
    >>> sorted(run_meta(["eval", "run"]))
    ['command', 'created_at', 'versions']
"""

from __future__ import annotations

import platform
import shlex
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Any

__all__ = ["PACKAGES", "run_meta"]

PACKAGES = (
    "rag-framework",
    "torch",
    "sentence-transformers",
    "transformers",
    "chromadb",
    "pymilvus",
    "milvus-lite",
    "jieba",
    "numpy",
    "openai",
    "ollama",
    "matplotlib",
)


def run_meta(argv: Sequence[str]) -> dict[str, Any]:
    """The command (`rag ...` as typed), the UTC time, Python's and the packages' versions."""
    versions = {"python": platform.python_version()}
    for package in PACKAGES:
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            continue
    return {
        "command": shlex.join(["rag", *argv]),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "versions": versions,
    }
