"""Test helpers: the one-shot forms of the entry points (open the components, run, close).

The embedding model is loaded once per configuration for the whole test session, as a
long-lived process would hold it; each call still opens and closes its own index.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from eval.beir import EvalReport, evaluate_beir
from eval.passages import evaluate_passages
from ingest.reindex import ReindexReport, Stats, reindex, stats
from ingest.run import IngestReport, delete_source, ingest_jsonl, ingest_paths
from rag.config import RagConfig
from rag.embed import Embedder, create_embedder
from rag.index import Index
from rag.knowledge_base import KnowledgeBase
from rag.pipeline import RagPipeline
from rag.runtime import Runtime

_LOADED: dict[str, Embedder] = {}


def loaded_embedder(config: RagConfig) -> Embedder:
    """The embedder of `config`, loaded once per session."""
    key = config.embedder.model_dump_json()
    if key not in _LOADED:
        embedder = create_embedder(config.embedder)
        embedder.warm_up()
        _LOADED[key] = embedder
    return _LOADED[key]


@contextmanager
def runtime_of(config: RagConfig, **kwargs: Any) -> Iterator[Runtime]:
    """`Runtime.open` with the session's loaded embedder."""
    if kwargs.get("model", True):
        kwargs.setdefault("embedder", loaded_embedder(config))
    with Runtime.open(config, **kwargs) as runtime:
        yield runtime


@contextmanager
def index_of(config: RagConfig, embedder: Embedder | None = None) -> Iterator[Index]:
    """The index of knowledge base `config.kb`, opened for reading as `rag ask` opens it
    (through `Runtime.kb`), with `embedder` (default: the session's)."""
    with runtime_of(config, embedder=embedder or loaded_embedder(config)) as runtime:
        yield runtime.kb().index


@contextmanager
def opened(
    config: RagConfig, *, create: str | None = None, **kwargs: Any
) -> Iterator[KnowledgeBase]:
    """Knowledge base `config.kb` of `runtime_of(config, **kwargs)`."""
    with runtime_of(config, **kwargs) as runtime:
        yield runtime.kb(create=create)


def ingest(config: RagConfig, paths: Iterable[Path], **kwargs: Any) -> IngestReport:
    with opened(config, write=True) as app:
        return ingest_paths(app, paths, **kwargs)


def ingest_corpus(config: RagConfig, file: Path, **kwargs: Any) -> IngestReport:
    with opened(config, write=True) as app:
        return ingest_jsonl(app, file, **kwargs)


def delete(config: RagConfig, source: str) -> list[str]:
    with opened(config, write=True, model=False) as app:
        return delete_source(app, source)


def copy_index(source: RagConfig, target: RagConfig) -> ReindexReport:
    with opened(source, model=False) as app:
        return reindex(app, target)


def index_stats(config: RagConfig) -> Stats:
    with opened(config, model=False) as app:
        return stats(app)


@contextmanager
def pipeline_of(config: RagConfig) -> Iterator[RagPipeline]:
    """The question pipeline of `config`, closed afterwards."""
    with opened(config) as app:
        yield app.pipeline


def beir_report(config: RagConfig, folder: Path, *args: Any, **kwargs: Any) -> EvalReport:
    with runtime_of(config) as runtime:
        return evaluate_beir(runtime, folder, *args, **kwargs)


def passages_report(config: RagConfig, folder: Path, *args: Any, **kwargs: Any) -> EvalReport:
    with runtime_of(config) as runtime:
        return evaluate_passages(runtime, folder, *args, **kwargs)
