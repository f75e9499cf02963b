from __future__ import annotations

from pathlib import Path

import pytest

from rag.config import load_config, unknown_variables
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
    with pytest.raises(
        ConfigError, match=r"store.backend must be one of \['chroma', 'milvus', 'pgvector'\]"
    ):
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


def test_a_misspelt_name_is_one_line_with_the_closest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    file = tmp_path / "rag.toml"
    for text, expected in (
        ("[retreival]\ntop_k = 3\n", "unknown setting retreival; did you mean retrieval?"),
        (
            "[retrieval]\ntopk = 3\n",
            "unknown setting retrieval.topk; did you mean retrieval.top_k?",
        ),
    ):
        file.write_text(text)
        with pytest.raises(ConfigError) as refused:
            load_config(file)
        message = str(refused.value)
        assert expected in message and "\n" not in message and "pydantic" not in message
    monkeypatch.setenv("RAG_RETRIEVAL__TOPK", "3")
    with pytest.raises(ConfigError, match="did you mean retrieval.top_k") as refused:
        load_config(None)
    assert "\n" not in str(refused.value) and "errors.pydantic.dev" not in str(refused.value)
    assert unknown_variables({"RAG_RETRIEVAL__TOPK": "3"}) == []  # refused, not "ignored"
    assert "did you mean RAG_DATA_DIR" in unknown_variables({"RAG_DATA_DI": "x"})[0]


def test_api_keys_from_the_environment_as_a_user_first_writes_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for value, count in (("mysecret", 1), ("a, b", 2), ('["a", {"key": "b", "role": "read"}]', 2)):
        monkeypatch.setenv("RAG_API__KEYS", value)
        keys = load_config(None).api.keys
        assert len(keys) == count
    monkeypatch.setenv("RAG_API__KEYS", "mysecret")
    assert [k.get_secret_value() for k in load_config(None).api.keys] == ["mysecret"]  # type: ignore[union-attr]
    monkeypatch.setenv("RAG_API__KEYS", '["sk-123",')
    with pytest.raises(ConfigError, match="key1,key2 or as JSON") as refused:
        load_config(None)
    assert "\n" not in str(refused.value) and "sk-123" not in str(refused.value)
