"""`rag reindex --to` between Chroma and Milvus Lite (no re-embedding, counts verified, the
same search results), `rag stats`, and the refusal to open an index with another backend."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from rag.cli import main
from rag.config import DatabaseConfig, RagConfig, StoreConfig
from rag.errors import ConfigError, IndexMismatchError
from tests.support.app import copy_index, index_of, index_stats, ingest

GUIDE = Path(__file__).resolve().parents[2] / "examples" / "guide"
QUESTIONS = ["How do I remove a document?", "如何删除文档？", "What does ingest do?"]


def _config(data_dir: Path, backend: str) -> RagConfig:
    return RagConfig(data_dir=data_dir, store=StoreConfig(backend=backend))


def _top(config: RagConfig, embedder) -> list[list[tuple[str, float]]]:  # type: ignore[no-untyped-def]
    with index_of(config, embedder) as index:
        return [
            [
                (h.chunk.chunk_id, round(h.score, 4))
                for h in index.search(embedder.embed_query(q), 5)
            ]
            for q in QUESTIONS
        ]


def test_chroma_to_milvus_copies_everything_and_searches_the_same(tmp_path: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    source = _config(tmp_path / "chroma", "chroma")
    assert ingest(source, [GUIDE]).exit_code == 0
    target = _config(tmp_path / "milvus", "milvus")
    report = copy_index(source, target)
    assert (report.chunks, report.summaries) == (13, 4)
    assert _top(target, embedder) == _top(source, embedder)
    figures = index_stats(target)
    assert figures.backend == "milvus" and figures.documents == 4
    assert figures.collections == {"chunks": 13, "chunks_summaries": 4}
    assert figures.model == "all-MiniLM-L6-v2" and figures.dimension == 384
    assert figures.disk_bytes > 0
    # The target is a whole index: ingesting the same files again writes nothing.
    assert ingest(target, [GUIDE]).count("skipped") == 4


def test_embedded_to_postgres_moves_the_whole_index_without_embedding(  # type: ignore[no-untyped-def]
    tmp_path: Path, embedder, postgres_url: str
) -> None:
    """The move to the shared profile: Chroma and the SQLite catalog into PostgreSQL and
    pgvector (catalog, BM25 postings, file states, vectors); the same answers after."""
    source = _config(tmp_path / "chroma", "chroma")
    assert ingest(source, [GUIDE]).exit_code == 0
    target = RagConfig(
        data_dir=tmp_path / "elsewhere",  # an empty local folder: nothing is kept there
        store=StoreConfig(backend="pgvector"),
        database=DatabaseConfig(url=SecretStr(postgres_url)),
    )
    report = copy_index(source, target)
    assert (report.chunks, report.summaries) == (13, 4)
    assert _top(target, embedder) == _top(source, embedder)
    with index_of(source, embedder) as old, index_of(target, embedder) as new:
        for question in QUESTIONS:
            terms = old.analyzer.terms(question)
            moved, kept = new.catalog.bm25.search(terms, 5), old.catalog.bm25.search(terms, 5)
            assert [i for i, _ in moved] == [i for i, _ in kept]
            assert [s for _, s in moved] == pytest.approx([s for _, s in kept], abs=1e-6)
        assert new.catalog.file_states() == old.catalog.file_states()
    figures = index_stats(target)
    assert figures.backend == "pgvector" and figures.documents == 4
    assert ingest(target, [GUIDE]).count("skipped") == 4  # nothing to embed again


def test_milvus_to_chroma_in_place_switches_the_backend(tmp_path: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    source = _config(tmp_path / "index", "milvus")
    assert ingest(source, [GUIDE / "user-guide.md"]).exit_code == 0
    before = _top(source, embedder)
    target = _config(tmp_path / "index", "chroma")
    with pytest.raises(IndexMismatchError, match="stored in milvus, but store.backend is chroma"):
        with index_of(target, embedder):
            pass
    report = copy_index(source, target)
    assert report.chunks == 4
    assert _top(target, embedder) == before
    with pytest.raises(IndexMismatchError, match="rag reindex --to"):
        with index_of(source, embedder):
            pass


def test_reindex_refuses_what_it_would_overwrite(tmp_path: Path) -> None:
    source = _config(tmp_path / "a", "chroma")
    assert ingest(source, [GUIDE / "user-guide.md"]).exit_code == 0
    with pytest.raises(ConfigError, match="nothing to copy"):
        copy_index(source, source)
    other = _config(tmp_path / "b", "chroma")
    assert ingest(other, [GUIDE / "user-guide.md"]).exit_code == 0
    with pytest.raises(ConfigError, match="already holds an index"):
        copy_index(source, other.model_copy(update={"store": StoreConfig(backend="milvus")}))


def test_cli_reindex_and_stats(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "chroma.toml"
    source.write_text(f'data_dir = "{tmp_path / "chroma"}"\n', encoding="utf-8")
    target = tmp_path / "milvus.toml"
    target.write_text(
        f'data_dir = "{tmp_path / "milvus"}"\n[store]\nbackend = "milvus"\n', encoding="utf-8"
    )
    assert main(["--config", str(source), "ingest", "-q", str(GUIDE / "user-guide.md")]) == 0
    assert main(["--config", str(source), "reindex", "--to", str(target), "-q"]) == 0
    assert "copied 4 chunks and 1 summaries" in capsys.readouterr().out
    assert main(["--config", str(target), "stats"]) == 0
    out = capsys.readouterr().out
    assert "milvus" in out and "collection chunks" in out and "all-MiniLM-L6-v2" in out
    assert main(["--config", str(source), "reindex", "--to", str(tmp_path / "none.toml")]) == 2
