"""Importing our packages is cheap: no heavy library is loaded at import time (C2)."""

from __future__ import annotations

import subprocess
import sys

import rag

HEAVY = ("torch", "chromadb", "pymilvus", "unstructured", "sentence_transformers", "transformers")


def test_import_loads_no_heavy_library() -> None:
    code = (
        "import sys, rag, ingest, api, eval, rag.cli, ingest.run, rag.pipeline\n"
        "import eval.ablation, rag.compress, rag.rerank, rag.integrations.langchain\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_public_names_are_exported_and_sorted() -> None:
    assert rag.__all__ == sorted(rag.__all__)
    public = {n for n in dir(rag) if not n.startswith("_")} - {"annotations"}
    modules = {n for n in public if type(getattr(rag, n)).__name__ == "module"}
    assert set(rag.__all__) == public - modules
