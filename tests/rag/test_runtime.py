"""One runtime per process, one knowledge base per index: `Runtime.kb` is the only opener,
knowledge bases share the runtime's model, write lock and one vector cache."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ingest.run import ingest_text
from rag.config import RagConfig
from rag.errors import IndexLockedError, KnowledgeBaseNotFoundError
from rag.runtime import Runtime
from tests.support.app import loaded_embedder

ROOT = Path(__file__).resolve().parents[2]


def test_runtime_kb_is_the_only_opener_of_a_knowledge_base() -> None:
    openers = []
    for folder in ("rag", "ingest", "api", "eval", "bench", "tests"):
        for file in (ROOT / folder).rglob("*.py"):
            text = file.read_text(encoding="utf-8")
            if re.search(r"\bIndex\.open\(", text):
                openers.append(str(file.relative_to(ROOT)))
    assert openers == ["rag/runtime.py"]
    assert not re.search(
        r"class Rag\b", "".join(p.read_text() for p in (ROOT / "rag").rglob("*.py"))
    )


def test_knowledge_bases_share_the_model_lock_and_one_vector_cache(tmp_path: Path) -> None:
    config = RagConfig(data_dir=tmp_path / "data")
    embedder = loaded_embedder(config)
    with Runtime.open(config, write=True, embedder=embedder) as runtime:
        default, hr = runtime.kb(), runtime.kb("hr", create="people")
        assert runtime.kb() is default and runtime.kb("hr") is hr  # opened once, then kept
        assert default.embedder is hr.embedder is embedder
        assert default.index.writable and hr.index.writable  # each holds the write lock
        assert ingest_text(hr, "Parental leave is sixteen weeks.", "leave.txt").exit_code == 0
        first, second = default.ingest_embedder, hr.ingest_embedder
        assert first._cache is second._cache is not None  # one vector cache per process
        with pytest.raises(IndexLockedError):
            Runtime.open(config, write=True, embedder=embedder)  # a second writer
        assert set(runtime.kbs()) == {"default", "hr"}
        with pytest.raises(KnowledgeBaseNotFoundError):
            runtime.kb("nope")
        runtime.drop_kb("hr")
        assert set(runtime.kbs()) == {"default"}
    with Runtime.open(config, write=True, embedder=embedder) as again:  # the lock is free
        assert again.kb().index.count_documents() == 0


def test_a_reader_and_a_view_with_other_settings_share_one_index(tmp_path: Path) -> None:
    config = RagConfig(data_dir=tmp_path / "data")
    embedder = loaded_embedder(config)
    with Runtime.open(config, write=True, embedder=embedder) as runtime:
        ingest_text(runtime.kb(), "The harbour lighthouse is painted red.", "note.txt")
    with Runtime.open(config, embedder=embedder) as reader:
        kb = reader.kb()
        assert not kb.index.writable
        bm25 = kb.with_config(
            kb.config.model_copy(
                update={"retrieval": kb.config.retrieval.model_copy(update={"mode": "bm25"})}
            )
        )
        assert bm25.index is kb.index and bm25.pipeline is not kb.pipeline
        hits = bm25.pipeline.search.retrieve("lighthouse", 3)
        assert hits and hits[0].chunk.source == "note.txt"
        bm25.close()  # a view leaves the index open
        assert kb.pipeline.search.retrieve("lighthouse", 3)
