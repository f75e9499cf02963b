"""The served embedders: `openai` against llama.cpp's real `/v1/embeddings` (the tiny GGUF,
mean pooling), `ollama` against the Ollama STAND-IN's embed route (its vectors come from no
model: tests/support/ollama_standin.py)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from ingest.run import ingest_paths
from rag.config import EmbedderConfig, RagConfig
from rag.embed import create_embedder
from rag.embed.estimate import EstimatedTokenizer
from rag.embed.model_files import resolve_model_dir
from rag.embed.remote import served_tokenizer
from rag.errors import IndexMismatchError, ModelUnavailableError, ModelUnreachableError
from rag.manifest import MANIFEST_NAME
from tests.support.app import ingest, opened
from tests.support.llama import free_port
from tests.support.ollama_standin import OllamaStandIn

GUIDE = Path(__file__).resolve().parents[2] / "examples" / "guide"
GUIDE_FILES = {p.name for p in GUIDE.iterdir()}
TEXTS = [f"passage {i}: annual leave rule number {i} applies to team {i % 3}" for i in range(13)]


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.asarray((a * b).sum(axis=1), dtype=np.float64)


@pytest.fixture
def standin() -> Iterator[OllamaStandIn]:
    with OllamaStandIn() as server:
        server.add_model("nomic-embed-text", digest="a" * 64)
        yield server


def test_openai_reads_the_dimension_and_batches_in_order(embedding_server: str) -> None:
    config = EmbedderConfig(
        backend="openai", base_url=embedding_server, model="tiny", batch_size=4,
        parallel_requests=3,
    )  # fmt: skip
    embedder = create_embedder(config)
    embedder.warm_up()
    fingerprint = embedder.fingerprint
    assert (fingerprint.dimension, fingerprint.backend) == (64, "openai")
    assert (fingerprint.name, fingerprint.server) == ("tiny", embedding_server)
    together = embedder.embed_documents(TEXTS)  # 4 requests of at most 4 texts, 3 at once
    one_by_one = np.stack([embedder.embed_query(t) for t in TEXTS])
    assert together.shape == (13, 64)
    np.testing.assert_allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)
    assert _cosines(together, one_by_one).min() > 0.999  # each text kept its own vector
    assert _cosines(together[:1], together[1:2])[0] < 0.9999  # and texts differ


def test_openai_ingests_searches_and_reuses_vectors(embedding_server: str, tmp_path: Path) -> None:
    embedder = EmbedderConfig(backend="openai", base_url=embedding_server, model="tiny")
    config = RagConfig(data_dir=tmp_path / "index", embedder=embedder)
    report = ingest(config, [GUIDE])
    assert report.chunks_written > 0 and report.reused == 0
    manifest = json.loads((tmp_path / "index" / MANIFEST_NAME).read_text())
    assert manifest["embedder"]["backend"] == "openai"
    assert manifest["embedder"]["server"] == embedding_server
    with opened(config) as app:  # the languages probe runs on the served model too
        answer = app.pipeline.ask("How do I remove a document from the index?")
    assert answer.citations and all(
        Path(c.hit.chunk.source).name in GUIDE_FILES for c in answer.citations
    )
    with opened(config.model_copy(update={"kb": "other"}), write=True, create="") as app:
        again = ingest_paths(app, [GUIDE])
    assert again.reused == again.chunks_written == report.chunks_written


def test_an_unreachable_server_is_retried_then_the_breaker_opens() -> None:
    config = EmbedderConfig(
        backend="openai", base_url=f"http://127.0.0.1:{free_port()}/v1", model="m",
        retries=1, backoff_s=0.01, breaker_failures=1, breaker_reset_s=60,
    )  # fmt: skip
    embedder = create_embedder(config)
    with pytest.raises(ModelUnreachableError, match="did not answer after 2 tries"):
        embedder.warm_up()
    started = time.monotonic()
    with pytest.raises(ModelUnreachableError, match="circuit breaker"):
        embedder.warm_up()
    assert time.monotonic() - started < 0.5


def test_ollama_embeds_in_bounded_parallel_batches(standin: OllamaStandIn) -> None:
    config = EmbedderConfig(
        backend="ollama", base_url=standin.url, model="nomic-embed-text", batch_size=5,
        parallel_requests=2,
    )  # fmt: skip
    embedder = create_embedder(config)
    texts = [f"rule {i} of the leave policy, team {i}" for i in range(23)]
    vectors = embedder.embed_documents(texts)
    expected = np.array([standin._vector(t) for t in texts], dtype=np.float32)
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    np.testing.assert_allclose(vectors, expected, atol=1e-6)  # in order
    batches = [len(body["input"]) for body in standin.embeds[1:]]  # after the probe
    assert sorted(batches) == [3, 5, 5, 5, 5]
    assert standin.most_embeds_in_flight == 2
    assert embedder.fingerprint.sha256 == "a" * 64  # Ollama's digest of the model
    assert (embedder.fingerprint.dimension, embedder.fingerprint.backend) == (32, "ollama")


def test_ollama_retries_an_overloaded_server(standin: OllamaStandIn) -> None:
    config = EmbedderConfig(
        backend="ollama", base_url=standin.url, model="nomic-embed-text", backoff_s=0.01
    )
    standin.embed_fail_next = [503]
    assert create_embedder(config).embed_query("annual leave").shape == (32,)
    assert len(standin.embeds) == 3  # the probe failed once, then passed; then the query


def test_a_missing_ollama_model_says_what_to_pull(standin: OllamaStandIn) -> None:
    config = EmbedderConfig(backend="ollama", base_url=standin.url, model="bge-m3")
    with pytest.raises(ModelUnavailableError, match="ollama pull bge-m3"):
        create_embedder(config).warm_up()


def test_a_changed_served_model_is_refused(standin: OllamaStandIn, tmp_path: Path) -> None:
    embedder = EmbedderConfig(
        backend="ollama", base_url=standin.url, model="nomic-embed-text", languages=["en"]
    )
    config = RagConfig(data_dir=tmp_path / "index", embedder=embedder)
    guide = [GUIDE / "user-guide.md"]

    def ingest_with(served: EmbedderConfig) -> int:
        fresh = create_embedder(served)  # a new process would ask the server again
        with opened(config, write=True, embedder=fresh) as app:
            return ingest_paths(app, guide).chunks_written

    assert ingest_with(embedder) > 0
    standin.add_model("nomic-embed-text", digest="b" * 64)  # pulled again: other weights
    with pytest.raises(IndexMismatchError, match=f"served by {standin.url} \\(ollama\\)"):
        ingest_with(embedder)
    standin.add_model("nomic-embed-text", digest="a" * 64)  # the same model back
    assert ingest_with(embedder) == 0  # opens; the file is unchanged
    elsewhere = standin.url.replace("127.0.0.1", "localhost")  # the same model, other server
    with pytest.raises(IndexMismatchError, match="served by http://localhost"):
        ingest_with(embedder.model_copy(update={"base_url": elsewhere}))


def test_chunks_are_counted_by_the_served_models_tokenizer_or_a_safe_estimate() -> None:
    minilm = resolve_model_dir(EmbedderConfig())
    exact = served_tokenizer(
        EmbedderConfig(backend="openai", tokenizer=str(minilm), max_input_tokens=256)
    )
    estimate = served_tokenizer(EmbedderConfig(backend="openai", max_input_tokens=256))
    assert isinstance(estimate, EstimatedTokenizer)
    assert exact.max_tokens == estimate.max_tokens == 254
    sentences = [
        s
        for file in (GUIDE / "user-guide.md", GUIDE / "用户指南.md")
        for s in file.read_text(encoding="utf-8").split("\n")
        if s.strip()
    ]
    counted, estimated = exact.count(sentences), estimate.count(sentences)
    assert sum(estimated) >= sum(counted)  # safe on the whole
    assert np.mean([e >= c for e, c in zip(estimated, counted, strict=True)]) > 0.95
    text = "年假 annual leave 2024"
    assert [text[a:b] for a, b in estimate.offsets(text)] == [
        "年", "假", "ann", "ual", "lea", "ve", "2", "0", "2", "4",
    ]  # fmt: skip


def test_a_server_without_embeddings_is_a_clear_error(llama_server: str) -> None:
    config = EmbedderConfig(backend="openai", base_url=llama_server, model="tiny", retries=0)
    with pytest.raises(ModelUnavailableError, match=f"embedding server at {llama_server}"):
        create_embedder(config).warm_up()  # llama.cpp's server started without --embedding
