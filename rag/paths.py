"""Where the framework keeps what it can rebuild: converted models, the jieba dictionary."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_root"]


def cache_root() -> Path:
    """$XDG_CACHE_HOME/rag-framework, else ~/.cache/rag-framework."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "rag-framework"
