"""Importing our packages is cheap: no heavy library is loaded at import time (C2)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import rag

HEAVY = (
    "torch",
    "chromadb",
    "pymilvus",
    "unstructured",
    "sentence_transformers",
    "transformers",
    "matplotlib",
    "jieba",
)


def test_import_loads_no_heavy_library() -> None:
    code = (
        "import sys, rag, ingest, api, eval, rag.cli, ingest.run, rag.pipeline\n"
        "import eval.ablation, rag.compress, rag.rerank, rag.integrations.langchain\n"
        "import api.app, api.service, api.routes.query, rag.cli.serve, rag.cli.remote\n"
        "import eval.run, eval.report, eval.judge, eval.gate, rag.cli.eval_run\n"
        "api.app.create_app(rag.RagConfig())\n"  # building the app does no work either
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_public_names_are_exported_and_sorted() -> None:
    assert rag.__all__ == sorted(rag.__all__)
    public = {n for n in dir(rag) if not n.startswith("_")} - {"annotations"}
    modules = {n for n in public if type(getattr(rag, n)).__name__ == "module"}
    assert set(rag.__all__) == public - modules


def _module_imports(file: Path, package_root: Path) -> set[str]:
    """Modules of `rag` that `file` imports at module level (TYPE_CHECKING blocks included;
    imports inside functions are the deliberate lazy ones and are left out)."""
    name = ".".join(file.relative_to(package_root.parent).with_suffix("").parts)
    name = name.removesuffix(".__init__")
    found: set[str] = set()
    tree = ast.parse(file.read_text(encoding="utf-8"))
    nodes: list[ast.stmt] = list(tree.body)
    while nodes:
        node = nodes.pop()
        if isinstance(node, ast.If | ast.Try):
            nodes += node.body + node.orelse
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = name.split(".")[: -node.level] if file.name != "__init__.py" else None
                base = ".".join([*(parent or name.split(".")), *base.split(".")]).strip(".")
            found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names)
    return {m for m in found if m == "rag" or m.startswith("rag.")}


def test_rag_has_no_import_cycle() -> None:
    root = Path(rag.__file__).parent
    modules = {}
    for file in root.rglob("*.py"):
        dotted = ".".join(file.relative_to(root.parent).with_suffix("").parts)
        modules[dotted.removesuffix(".__init__")] = file
    graph = {
        name: {m for m in _module_imports(file, root) if m in modules and m != name}
        for name, file in modules.items()
    }
    cycles = [c for c in _strongly_connected(graph) if len(c) > 1]
    assert cycles == [], f"import cycles in rag/: {cycles}"


def _strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm: the strongly connected components of `graph`."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                component.append(top)
                if top == node:
                    break
            out.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return out


def test_only_the_cli_reaches_into_ingest_and_eval() -> None:
    """The core package depends on nothing above it; the CLI (an edge) imports the
    ingestion and evaluation layers, lazily, inside the commands that use them."""
    root = Path(rag.__file__).parent
    offenders = []
    for file in root.rglob("*.py"):
        if "cli" in file.relative_to(root).parts:
            continue
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            if any(n.split(".")[0] in ("ingest", "eval", "api") for n in names):
                offenders.append(str(file.relative_to(root)))
    assert offenders == []
