"""`retrieval.mode = native_hybrid` on Milvus Lite: dense + BM25 fused by RRF in the store,
BM25 alone for a language the embedder cannot read, the same calibrated confidence per
chunk as the hybrid search, no ghosts after a delete, and a clear error on a store that
cannot search text."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.config import RagConfig, RetrievalConfig, StoreConfig
from rag.errors import ConfigError
from rag.retrieve import create_retriever
from tests.support.app import delete, index_of, ingest

GUIDE = Path(__file__).resolve().parents[2] / "examples" / "guide"


def _config(tmp_path: Path, backend: str) -> RagConfig:
    return RagConfig(
        data_dir=tmp_path / "index",
        store=StoreConfig(backend=backend),
        retrieval=RetrievalConfig(mode="native_hybrid"),
    )


def test_native_hybrid_on_milvus(tmp_path: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    config = _config(tmp_path, "milvus")
    assert ingest(config, [GUIDE]).exit_code == 0
    with index_of(config, embedder) as index:
        retriever = create_retriever(config, index, embedder)
        english = retriever.retrieve("How do I remove a document?", 5)
        chinese = retriever.retrieve("如何删除文档？", 5)
    assert len(english) == 5 and {h.stage for h in english} == {"native_hybrid"}
    assert english[0].chunk.section.endswith("Removing documents")
    scores = [h.score for h in english]
    assert scores == sorted(scores, reverse=True) and 0 < scores[-1] <= scores[0] <= 2 / 61
    # MiniLM does not read Chinese: BM25 alone, scores positive, best first.
    assert {h.stage for h in chinese} == {"bm25"}
    assert chinese[0].chunk.section.endswith("删除文档")
    scores = [h.score for h in chinese]
    assert scores == sorted(scores, reverse=True) and scores[-1] > 0

    # One confidence scale across modes: each chunk both searches return gets the same one.
    hybrid = config.model_copy(update={"retrieval": RetrievalConfig(mode="hybrid")})
    with index_of(hybrid, embedder) as index:
        retriever = create_retriever(hybrid, index, embedder)
        local = {
            h.chunk.chunk_id: h.confidence
            for question in ("How do I remove a document?", "如何删除文档？")
            for h in retriever.retrieve(question, 20)
        }
    for hit in english + chinese:
        assert hit.confidence is not None and 0 <= hit.confidence <= 1
        if hit.chunk.chunk_id in local:
            assert hit.confidence == pytest.approx(local[hit.chunk.chunk_id], abs=1e-3)
    assert sum(h.chunk.chunk_id in local for h in english + chinese) >= 6
    assert (english[0].confidence or 0) > 0.5 and (chinese[0].confidence or 0) > 0.5

    assert delete(config, str(GUIDE / "user-guide.md"))
    with index_of(config, embedder) as index:
        hits = create_retriever(config, index, embedder).retrieve("How do I remove a document?", 20)
    assert hits and not any(h.chunk.source.endswith("user-guide.md") for h in hits)


def test_native_hybrid_needs_a_store_that_searches_text(tmp_path: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    config = _config(tmp_path, "chroma")
    assert ingest(config, [GUIDE / "user-guide.md"]).exit_code == 0
    with index_of(config, embedder) as index:
        retriever = create_retriever(config, index, embedder)
        with pytest.raises(ConfigError, match="store.backend = milvus"):
            retriever.retrieve("How do I remove a document?", 5)
