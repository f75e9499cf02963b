from __future__ import annotations

from pathlib import Path

import pytest

from rag.config import load_config
from rag.errors import ConfigError


def test_defaults_are_the_embedded_setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = load_config()
    assert config.data_dir == Path(".rag")
    assert config.store.backend == "chroma"
    assert config.embedder.model == "all-MiniLM-L6-v2"


def test_env_overrides_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    file = tmp_path / "rag.toml"
    file.write_text("[retrieval]\ntop_k = 3\n[chunker]\nchunk_tokens = 120\n", encoding="utf-8")
    monkeypatch.setenv("RAG_RETRIEVAL__TOP_K", "9")
    monkeypatch.setenv("RAG_DATA_DIR", str(tmp_path / "idx"))
    config = load_config(file)
    assert config.retrieval.top_k == 9
    assert config.chunker.chunk_tokens == 120
    assert config.data_dir == tmp_path / "idx"


def test_rag_config_env_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    file = tmp_path / "other.toml"
    file.write_text("[answer]\nmax_sentences = 2\n", encoding="utf-8")
    monkeypatch.setenv("RAG_CONFIG", str(file))
    assert load_config().answer.max_sentences == 2


def test_invalid_values_name_the_key(tmp_path: Path) -> None:
    file = tmp_path / "rag.toml"
    file.write_text("[chunker]\nchunk_tokens = 50\noverlap_tokens = 60\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="overlap_tokens must be smaller than chunk_tokens"):
        load_config(file)


def test_missing_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[store\nbackend=", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)


def test_unknown_backend_lists_the_valid_names(tmp_path: Path) -> None:
    from rag.stores import open_store

    config = load_config(None).model_copy(
        update={"store": load_config(None).store.model_copy(update={"backend": "faiss"})}
    )
    with pytest.raises(ConfigError, match=r"store.backend must be one of \['chroma', 'milvus'\]"):
        open_store(config.store, tmp_path, 384)


def test_config_is_frozen() -> None:
    config = load_config(None)
    with pytest.raises(Exception, match="frozen"):
        config.retrieval.top_k = 3  # type: ignore[misc]


def test_secrets_are_redacted_in_repr_and_dumps(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_STORE__TOKEN", "root:Milvus")
    monkeypatch.setenv("RAG_GENERATOR__API_KEY", "sk-secret")
    config = load_config(None)
    assert config.store.token.get_secret_value() == "root:Milvus"
    assert config.generator.api_key.get_secret_value() == "sk-secret"
    shown = repr(config) + config.model_dump_json()
    assert "root:Milvus" not in shown and "sk-secret" not in shown
