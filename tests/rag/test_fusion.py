"""Fusion on hand-computed cases, and the section header a chunk carries into search."""

from __future__ import annotations

import math

import pytest

from rag.index import contextual_text
from rag.retrieve.fusion import rrf, weighted
from rag.types import Chunk


def test_rrf_by_hand() -> None:
    fused = dict(rrf({"dense": ["a", "b", "c"], "bm25": ["c", "a"]}, k=10))
    assert fused == pytest.approx(
        {"a": 1 / 11 + 1 / 12, "b": 1 / 12, "c": 1 / 13 + 1 / 11}, rel=1e-12
    )
    assert [i for i, _ in rrf({"dense": ["a", "b", "c"], "bm25": ["c", "a"]}, k=10)] == [
        "a",
        "c",
        "b",
    ]


def test_rrf_weights_and_ties() -> None:
    fused = rrf({"x": ["a"], "y": ["b"]}, k=0, weights={"x": 1.0, "y": 2.0})
    assert fused == [("b", 2.0), ("a", 1.0)]
    assert [i for i, _ in rrf({"x": ["a"], "y": ["b"]}, k=60)] == ["a", "b"]  # first seen
    with pytest.raises(ValueError, match="k must be at least 0"):
        rrf({"x": ["a"]}, k=-1)


def test_minmax_by_hand() -> None:
    dense = [("a", 0.9), ("b", 0.5), ("c", 0.1)]
    bm25 = [("c", 12.0), ("d", 4.0)]
    fused = dict(weighted({"dense": dense, "bm25": bm25}, {"dense": 0.5, "bm25": 0.5}))
    # dense: a 1, b 0.5, c 0 (d missing -> 0); bm25: c 1, d 0 (a, b missing -> 0)
    assert fused == pytest.approx({"a": 0.5, "b": 0.25, "c": 0.5, "d": 0.0})
    order = [i for i, _ in weighted({"dense": dense, "bm25": bm25})]
    assert order == ["a", "c", "b", "d"]


def test_zscore_by_hand() -> None:
    dense = [("a", 3.0), ("b", 1.0)]  # mean 2, sd 1 -> a 1, b -1
    bm25 = [("b", 10.0), ("c", 6.0), ("d", 8.0)]  # mean 8, sd 1.633 -> b 1.2247, c -1.2247
    fused = dict(weighted({"dense": dense, "bm25": bm25}, normalization="zscore"))
    z = 2 / (8 / 3) ** 0.5
    assert fused == pytest.approx({"a": 1 - z, "b": -1 + z, "c": -1 - z, "d": -1 + 0.0})


def test_zero_weight_list_is_ignored_and_empty_lists_pass() -> None:
    fused = weighted({"dense": [("a", 1.0), ("b", 0.0)], "bm25": [("b", 5.0)]}, {"dense": 0.0})
    assert fused[0][0] == "b"
    assert weighted({"dense": []}) == []
    assert rrf({}) == []


def _chunk(text: str, section: str, index: int = 1) -> Chunk:
    return Chunk("id", "doc", "v", text, index, "src", None, section, 3)


def test_contextual_text_heads_later_chunks_with_their_section() -> None:
    assert contextual_text(_chunk("Body text.", "")) == "Body text."
    assert contextual_text(_chunk("Leave. Twenty days.", "Handbook > Leave")) == (
        "Handbook\nLeave. Twenty days."
    )
    assert contextual_text(_chunk("Carry-over rules.", "Handbook > Leave")) == (
        "Handbook > Leave\nCarry-over rules."
    )
    assert contextual_text(_chunk("Handbook intro", "Handbook")) == "Handbook intro"


def test_confidence_uses_the_cosine_only_for_the_model_it_was_fitted_for() -> None:
    from rag.config import ConfidenceConfig
    from rag.retrieve.confidence import Calibrator
    from rag.types import Chunk, Hit

    hits = [Hit(Chunk(f"c{i}", "d", "v", "text", i, "s.md"), 1.0, "fused") for i in range(2)]
    dense, bm25 = [("c0", 0.8), ("c1", 0.1)], [("c0", 3.0)]
    config = ConfidenceConfig()
    fitted = Calibrator(config, lambda: "all-MiniLM-L6-v2").apply(hits, dense, bm25, 6.0)
    other = Calibrator(config, lambda: "bge-m3").apply(hits, dense, bm25, 6.0)
    unread = Calibrator(config, lambda: "all-MiniLM-L6-v2").apply(hits, None, bm25, 6.0)
    z = config.dense.bias + config.dense.weights["dense"] * 0.8 + config.dense.weights["bm25"] * 0.5
    assert fitted[0].confidence == pytest.approx(1 / (1 + math.exp(-z)), abs=1e-6)
    lexical = 1 / (1 + math.exp(-(config.lexical.bias + config.lexical.weights["bm25"] * 0.5)))
    assert other[0].confidence == unread[0].confidence == pytest.approx(lexical, abs=1e-6)
    # a chunk BM25 did not find scores its share as 0, and lower
    assert fitted[1].confidence < fitted[0].confidence and other[1].confidence < lexical
