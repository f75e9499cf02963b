"""LLM summaries for the two-level index, written by the real llama.cpp server (tiny model:
gibberish text, real calls), cached by content hash, and extractive when the model is down."""

from __future__ import annotations

import logging
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from rag.config import GenerationParams, GeneratorConfig, RagConfig, SummaryConfig
from rag.embed import create_embedder
from rag.errors import ConfigError
from tests.generate.conftest import MODEL, free_port
from tests.support.app import index_of, ingest

GUIDE = Path(__file__).resolve().parents[2] / "examples" / "guide"


def _docs(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    for name in ("user-guide.md", "用户指南.md"):
        shutil.copy(GUIDE / name, folder / name)
    return folder


def _config(data_dir: Path, base_url: str, tokenizer: Path | None = None) -> RagConfig:
    generator = GeneratorConfig(
        backend="openai",
        base_url=base_url,
        model=MODEL,
        retries=0,
        context_window=2048,  # the test server's
        tokenizer=str(tokenizer) if tokenizer else None,
        params=GenerationParams(temperature=0.0, seed=1),
    )
    summary = SummaryConfig(method="llm", llm_max_tokens=12, llm_input_chars=1500)
    return RagConfig(data_dir=data_dir, summary=summary, generator=generator)


def _cached(config: RagConfig) -> list[str]:
    with sqlite3.connect(config.data_dir / "summaries.sqlite") as db:
        return [row[0] for row in db.execute("SELECT text FROM summaries ORDER BY text")]


def _summaries(config: RagConfig) -> list[str]:
    embedder = create_embedder(config.embedder)
    with index_of(config, embedder) as index:
        probe = np.ones(embedder.fingerprint.dimension, dtype=np.float32)
        return sorted(hit.chunk.text for hit in index._summaries.search_dense(probe, 50))


def test_summaries_are_written_by_the_model_and_cached(
    tmp_path: Path, llama_server: str, tiny_tokenizer: Path
) -> None:
    """The Chinese guide, 1500 characters in, needs ~4500 tokens of the tiny vocabulary:
    the text is cut to fit the server's 2048, counted with the model's tokenizer."""
    docs = _docs(tmp_path)
    config = _config(tmp_path / "index", llama_server, tiny_tokenizer)
    assert ingest(config, [docs]).exit_code == 0
    cached = _cached(config)
    assert len(cached) == 2 and all(cached)
    assert _summaries(config) == cached  # the index holds the model's text, not extracts

    # A document changed where the model reads it costs one new call; the unchanged one is
    # not summarised again.
    changed = docs / "user-guide.md"
    title, rest = changed.read_text(encoding="utf-8").split("\n", 1)
    changed.write_text(f"{title}\n\nA new opening line.\n{rest}", encoding="utf-8")
    assert ingest(config, [docs]).exit_code == 0
    assert len(_cached(config)) == 3

    # Rebuilding elsewhere with the cache and no server: every summary comes from the cache.
    rebuilt = _config(tmp_path / "rebuilt", f"http://127.0.0.1:{free_port()}/v1", tiny_tokenizer)
    rebuilt.data_dir.mkdir()
    shutil.copy(config.data_dir / "summaries.sqlite", rebuilt.data_dir / "summaries.sqlite")
    assert ingest(rebuilt, [docs]).exit_code == 0
    assert _summaries(rebuilt) == _summaries(config)


def test_a_model_that_is_down_gives_extractive_summaries(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = _config(tmp_path / "index", f"http://127.0.0.1:{free_port()}/v1")
    with caplog.at_level(logging.WARNING):
        assert ingest(config, [_docs(tmp_path)]).exit_code == 0
    assert sum("extractive summary instead" in r.message for r in caplog.records) == 2
    texts = _summaries(config)
    assert len(texts) == 2 and any(t.startswith("RAG Framework User Guide") for t in texts)
    assert _cached(config) == []


def test_llm_summaries_need_a_model(tmp_path: Path) -> None:
    config = RagConfig(data_dir=tmp_path / "index", summary=SummaryConfig(method="llm"))
    with pytest.raises(ConfigError, match="summary.method = llm needs a generation model"):
        ingest(config, [_docs(tmp_path)])
