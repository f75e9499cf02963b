"""The onnx embedder: the same model as sentence-transformers, run by ONNX Runtime."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rag.config import EmbedderConfig
from rag.embed import Embedder, create_embedder
from rag.embed.languages import probe_languages
from rag.errors import ModelUnavailableError
from tests.support.tiny_models import tiny_sentence_model

TEXTS = [
    "Employees receive twenty days of paid leave a year.",
    "员工每年享受二十天带薪年假，未休完的假期可以结转到下一年。",
    "Hi",
    # longer than the model's 256 positions: truncated the same way
    " ".join(f"sentence {i} about vitamin D and bone density in older adults" for i in range(60)),
    "Ünïcödé, emoji 🙂 and MIXED case: DNA-binding proteins (p53) regulate apoptosis.",
]


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("onnx-cache")


def _onnx(cache: Path, **settings: object) -> Embedder:
    embedder = create_embedder(
        EmbedderConfig(backend="onnx", cache_dir=str(cache), **settings)  # type: ignore[arg-type]
    )
    embedder.warm_up()
    return embedder


def _sentence_transformers(**settings: object) -> Embedder:
    embedder = create_embedder(EmbedderConfig(backend="sentence_transformers", **settings))  # type: ignore[arg-type]
    embedder.warm_up()
    return embedder


def test_fp32_gives_sentence_transformers_vectors(cache: Path) -> None:
    reference = _sentence_transformers()
    onnx = _onnx(cache, quantize="none")
    documents = onnx.embed_documents(TEXTS)
    assert documents.shape == (len(TEXTS), 384) and documents.dtype == np.float32
    cosine = (documents * reference.embed_documents(TEXTS)).sum(axis=1)
    assert cosine.min() > 0.99999
    assert np.allclose(np.linalg.norm(documents, axis=1), 1.0, atol=1e-5)
    query = onnx.embed_query(TEXTS[0])
    assert float(query @ reference.embed_query(TEXTS[0])) > 0.99999
    assert onnx.embed_queries(TEXTS[:2]).shape == (2, 384)
    assert onnx.embed_documents([]).shape == (0, 384)
    # the splitter counts in the same tokens, and the same model is named in the manifest
    assert onnx.tokenizer.count(TEXTS) == reference.tokenizer.count(TEXTS)
    assert onnx.tokenizer.max_tokens == reference.tokenizer.max_tokens == 254
    assert onnx.fingerprint.sha256 == reference.fingerprint.sha256
    assert (onnx.fingerprint.backend, reference.fingerprint.backend) == (
        "onnx",
        "sentence_transformers",
    )
    # a batch sorted by length and cut in pieces gives each text its own row back
    small = _onnx(cache, quantize="none", batch_size=2)
    assert np.allclose(small.embed_documents(TEXTS), documents, atol=1e-5)


def test_int8_is_the_default_stays_close_and_reads_the_same_languages(cache: Path) -> None:
    reference = _sentence_transformers()
    int8 = _onnx(cache)
    assert int8.fingerprint.backend == "onnx-int8"
    cosine = (int8.embed_documents(TEXTS) * reference.embed_documents(TEXTS)).sum(axis=1)
    # 0.995 on average over SciFact abstracts; a two-letter text moves most (0.977 here)
    assert cosine.mean() > 0.98 and cosine.min() > 0.97, cosine
    assert probe_languages(int8) == probe_languages(reference) == ["en"]
    assert len(list(cache.glob("*-int8-r*.onnx"))) == 1


def test_a_second_process_loads_the_export_without_torch(cache: Path) -> None:
    _onnx(cache)  # exported (or already there)
    script = (
        "import sys, json\n"
        "from rag.config import EmbedderConfig\n"
        "from rag.embed import create_embedder\n"
        f"e = create_embedder(EmbedderConfig(backend='onnx', cache_dir={str(cache)!r}))\n"
        "vector = e.embed_query('paid leave')\n"
        "print(json.dumps({'torch': 'torch' in sys.modules, "
        "'transformers': 'transformers' in sys.modules, 'dim': len(vector)}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {
        "torch": False,
        "transformers": False,
        "dim": 384,
    }


@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_other_models_and_pooling(tmp_path: Path, pooling: str) -> None:
    model = tiny_sentence_model(tmp_path, pooling=pooling)
    reference = _sentence_transformers(model="tiny", path=str(model))
    onnx = _onnx(tmp_path / "cache", model="tiny", path=str(model), quantize="none")
    cosine = (onnx.embed_documents(TEXTS) * reference.embed_documents(TEXTS)).sum(axis=1)
    assert cosine.min() > 0.9999
    assert onnx.fingerprint == reference.fingerprint.__class__(
        "tiny", reference.fingerprint.sha256, 32, "onnx"
    )


def test_a_model_with_other_modules_is_sent_to_sentence_transformers(tmp_path: Path) -> None:
    model = tiny_sentence_model(tmp_path)
    modules = json.loads((model / "modules.json").read_text())
    modules.append(
        {"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"}
    )
    (model / "modules.json").write_text(json.dumps(modules))
    with pytest.raises(ModelUnavailableError, match="embedder.backend = 'sentence_transformers'"):
        _onnx(tmp_path / "cache", model="tiny", path=str(model))


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_unwritable_cache_says_what_to_set(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    with pytest.raises(ModelUnavailableError, match="RAG_EMBEDDER__CACHE_DIR"):
        _onnx(locked / "cache")


def test_quantize_follows_the_backend_and_int8_needs_an_exported_model() -> None:
    assert EmbedderConfig().precision == "int8"
    assert EmbedderConfig(backend="sentence_transformers").precision == "none"
    assert EmbedderConfig(backend="onnx", quantize="none").precision == "none"
    with pytest.raises(ValueError, match="quantize applies to the onnx and openvino backends only"):
        EmbedderConfig(backend="sentence_transformers", quantize="int8")
