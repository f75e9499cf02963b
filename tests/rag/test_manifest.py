"""Opening an index with another embedding model or chunker is refused, not mixed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from rag.app import Rag
from rag.config import RagConfig
from rag.embed.sentence_transformers import resolve_model_dir
from rag.errors import IndexMismatchError, ModelUnavailableError
from tests.support.app import ingest_corpus, pipeline_of


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random BERT sentence-transformer built here (no weights can be downloaded)."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer import modules as models
    from transformers import BertConfig, BertModel

    from rag.config import EmbedderConfig

    bundled = resolve_model_dir(EmbedderConfig())
    base = tmp_path_factory.mktemp("tiny-bert")
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        shutil.copy(bundled / name, base / name)
    config = BertConfig(
        vocab_size=30522,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    BertModel(config).save_pretrained(base)
    word = models.Transformer(str(base), max_seq_length=128)
    out = tmp_path_factory.mktemp("tiny-st")
    SentenceTransformer(modules=[word, models.Pooling(32)]).save(str(out))
    return out


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
        Rag.open(other)


def test_same_name_other_files_is_refused(built: RagConfig, tiny_model: Path) -> None:
    # Same name, different weights: the file hash in the manifest tells them apart.
    other = built.model_copy(
        update={"embedder": built.embedder.model_copy(update={"path": str(tiny_model)})}
    )
    with pytest.raises(IndexMismatchError, match="sha256"):
        Rag.open(other)


def test_other_chunker_is_refused_for_writing(built: RagConfig, tmp_path: Path) -> None:
    corpus = tmp_path / "c.jsonl"
    other = built.model_copy(
        update={"chunker": built.chunker.model_copy(update={"chunk_tokens": 100})}
    )
    with pytest.raises(IndexMismatchError, match="chunked with"):
        ingest_corpus(other, corpus)
    with pipeline_of(other) as pipeline:  # reading with other chunk settings is harmless
        assert pipeline.ask("how many days of leave?").citations


def test_missing_model_path_says_what_to_set(tmp_path: Path) -> None:
    config = RagConfig(data_dir=tmp_path / "i", embedder={"path": str(tmp_path / "nope")})  # type: ignore[arg-type]
    with pytest.raises(ModelUnavailableError, match="RAG_EMBEDDER__PATH"):
        Rag.open(config)


def test_unknown_hub_model_offline_is_a_clear_error(tmp_path: Path) -> None:
    config = RagConfig(data_dir=tmp_path / "i", embedder={"model": "nobody/no-such-model"})  # type: ignore[arg-type]
    with pytest.raises(ModelUnavailableError, match="not in the local Hugging Face cache"):
        Rag.open(config)
