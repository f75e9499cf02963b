"""Opening an index with another embedding model or chunker is refused, not mixed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag.config import RagConfig
from rag.errors import IndexMismatchError, ModelUnavailableError
from rag.runtime import Runtime
from tests.support.app import ingest_corpus, pipeline_of
from tests.support.tiny_models import tiny_sentence_model


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_sentence_model(tmp_path_factory.mktemp("tiny"))


@pytest.fixture
def built(tmp_path: Path) -> RagConfig:
    corpus = tmp_path / "c.jsonl"
    corpus.write_text(
        '{"_id": "a", "title": "Leave", "text": "Twenty days of leave."}\n', encoding="utf-8"
    )
    config = RagConfig(data_dir=tmp_path / "index")
    assert ingest_corpus(config, corpus).count("parsed") == 1
    return config


def test_other_model_is_refused(built: RagConfig, tiny_model: Path) -> None:
    other = built.model_copy(
        update={
            "embedder": built.embedder.model_copy(update={"path": str(tiny_model), "model": "tiny"})
        }
    )
    with pytest.raises(IndexMismatchError, match="built with embedding model all-MiniLM-L6-v2"):
        with Runtime.open(other) as runtime:
            runtime.kb()


def test_same_name_other_files_is_refused(built: RagConfig, tiny_model: Path) -> None:
    # Same name, different weights: the file hash in the manifest tells them apart.
    other = built.model_copy(
        update={"embedder": built.embedder.model_copy(update={"path": str(tiny_model)})}
    )
    with pytest.raises(IndexMismatchError, match="sha256"):
        with Runtime.open(other) as runtime:
            runtime.kb()


def test_other_backend_of_the_same_model_is_refused_by_name(built: RagConfig) -> None:
    # Built by the default int8 OpenVINO model; sentence-transformers' fp32 vectors differ.
    other = built.model_copy(
        update={"embedder": built.embedder.model_copy(update={"backend": "sentence_transformers"})}
    )
    message = (
        "embedded by the openvino-int8 backend .* runs the same model on sentence_transformers"
    )
    with pytest.raises(IndexMismatchError, match=message) as refused:
        with Runtime.open(other) as runtime:
            runtime.kb()
    assert "backend = 'openvino', quantize = 'int8'" in str(refused.value)


def test_other_chunker_is_refused_for_writing(built: RagConfig, tmp_path: Path) -> None:
    corpus = tmp_path / "c.jsonl"
    other = built.model_copy(
        update={"chunker": built.chunker.model_copy(update={"chunk_tokens": 100})}
    )
    with pytest.raises(IndexMismatchError, match="chunked with"):
        ingest_corpus(other, corpus)
    with pipeline_of(other) as pipeline:  # reading with other chunk settings is harmless
        assert pipeline.ask("how many days of leave?").citations


def test_an_index_built_before_an_analysis_setting_keeps_its_terms(built: RagConfig) -> None:
    """An index whose manifest predates `lexical.traditional` is read and written as it was
    built (Traditional characters kept), not refused as a mismatch."""
    manifest = built.data_dir / "manifest.json"
    data = json.loads(manifest.read_text(encoding="utf-8"))
    assert data["lexical"].pop("traditional") == "simplify"
    manifest.write_text(json.dumps(data), encoding="utf-8")
    with Runtime.open(built) as runtime:
        assert runtime.kb().index.analyzer.terms("資訊") == ["資訊"]
    corpus = built.data_dir.parent / "more.jsonl"
    corpus.write_text('{"_id": "b", "title": "", "text": "年假二十天。"}\n', encoding="utf-8")
    assert ingest_corpus(built, corpus).count("parsed") == 1
    other = built.model_copy(
        update={"lexical": built.lexical.model_copy(update={"chinese": "chars"})}
    )
    with pytest.raises(IndexMismatchError, match="analyzed for BM25"):
        ingest_corpus(other, corpus)


def test_missing_model_path_says_what_to_set(tmp_path: Path) -> None:
    config = RagConfig(data_dir=tmp_path / "i", embedder={"path": str(tmp_path / "nope")})  # type: ignore[arg-type]
    with pytest.raises(ModelUnavailableError, match="RAG_EMBEDDER__PATH"):
        with Runtime.open(config) as runtime:
            runtime.kb()


def test_unknown_hub_model_offline_is_a_clear_error(tmp_path: Path) -> None:
    config = RagConfig(data_dir=tmp_path / "i", embedder={"model": "nobody/no-such-model"})  # type: ignore[arg-type]
    with pytest.raises(ModelUnavailableError, match="not in the local Hugging Face cache"):
        with Runtime.open(config) as runtime:
            runtime.kb()
