"""The openvino embedder: the same model converted once and run by OpenVINO (static int8)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rag.config import EmbedderConfig
from rag.embed import Embedder, create_embedder
from rag.embed.calibration import calibration_texts, fingerprint
from rag.embed.languages import probe_languages
from tests.rag.test_onnx_embedder import TEXTS, _sentence_transformers
from tests.support.tiny_models import tiny_sentence_model


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("openvino-cache")


def _openvino(cache: Path, **settings: object) -> Embedder:
    embedder = create_embedder(
        EmbedderConfig(backend="openvino", cache_dir=str(cache), **settings)  # type: ignore[arg-type]
    )
    embedder.warm_up()
    return embedder


def test_fp32_gives_sentence_transformers_vectors(cache: Path) -> None:
    reference = _sentence_transformers()
    fp32 = _openvino(cache, quantize="none", batch_size=2)
    documents = fp32.embed_documents(TEXTS)
    cosine = (documents * reference.embed_documents(TEXTS)).sum(axis=1)
    assert cosine.min() > 0.9999, cosine
    assert np.allclose(np.linalg.norm(documents, axis=1), 1.0, atol=1e-5)
    assert fp32.tokenizer.count(TEXTS) == reference.tokenizer.count(TEXTS)
    assert fp32.fingerprint.sha256 == reference.fingerprint.sha256
    assert fp32.fingerprint.backend == "openvino"
    assert fp32.embed_documents([]).shape == (0, 384)


def test_int8_stays_close_and_reads_the_same_languages(cache: Path) -> None:
    reference = _sentence_transformers()
    int8 = _openvino(cache)
    assert int8.fingerprint.backend == "openvino-int8"
    cosine = (int8.embed_documents(TEXTS) * reference.embed_documents(TEXTS)).sum(axis=1)
    # 0.997 on average over SciFact abstracts (README); a two-letter text moves most (0.969)
    assert cosine.mean() > 0.98 and cosine.min() > 0.96, cosine
    assert float(int8.embed_query(TEXTS[0]) @ reference.embed_query(TEXTS[0])) > 0.98
    assert probe_languages(int8) == probe_languages(reference) == ["en"]
    # one folder, named by the calibration set's hash; no scratch folder left behind
    (folder,) = [p for p in cache.glob("*-openvino-int8-r*") if p.is_dir()]
    assert folder.name.endswith(f"-c{fingerprint()}")
    assert (folder / "model.xml").is_file() and (folder / "model.bin").is_file()
    assert not list(cache.glob(".export-*"))


def test_a_second_process_loads_the_conversion_without_torch_or_nncf(cache: Path) -> None:
    _openvino(cache)  # converted (or already there)
    script = (
        "import sys, json\n"
        "from rag.config import EmbedderConfig\n"
        "from rag.embed import create_embedder\n"
        f"e = create_embedder(EmbedderConfig(backend='openvino', cache_dir={str(cache)!r}))\n"
        "vector = e.embed_query('paid leave')\n"
        "print(json.dumps({name: name in sys.modules for name in "
        "('torch', 'transformers', 'nncf')} | {'dim': len(vector)}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {
        "torch": False,
        "transformers": False,
        "nncf": False,
        "dim": 384,
    }


@pytest.mark.parametrize("quantize", ["none", "int8"])
def test_other_models_and_cls_pooling(tmp_path: Path, quantize: str) -> None:
    model = tiny_sentence_model(tmp_path, pooling="cls")
    reference = _sentence_transformers(model="tiny", path=str(model))
    embedder = _openvino(tmp_path / "cache", model="tiny", path=str(model), quantize=quantize)
    cosine = (embedder.embed_documents(TEXTS) * reference.embed_documents(TEXTS)).sum(axis=1)
    assert cosine.min() > (0.9999 if quantize == "none" else 0.9), cosine
    assert embedder.fingerprint.dimension == 32


def test_the_calibration_set_spans_lengths_and_both_languages() -> None:
    texts = calibration_texts()
    assert any("年假" in t for t in texts) and any("leave" in t for t in texts)
    lengths = sorted(len(t) for t in texts)
    assert lengths[0] < 40 and lengths[-1] > 1500  # a question to past 256 tokens
    assert fingerprint() == fingerprint() and len(fingerprint()) == 8


def test_int8_is_the_default_on_openvino_too() -> None:
    assert EmbedderConfig(backend="openvino").precision == "int8"
    assert EmbedderConfig(backend="openvino", quantize="none").precision == "none"
