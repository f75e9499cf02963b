"""The regression gate on crafted runs: it fails naming the metric, and passes within the
tolerance; a metric that vanished fails; bad tolerances are refused."""

from __future__ import annotations

import pytest

from eval.gate import check_gate, parse_tolerances
from eval.results import Results
from rag.errors import ConfigError
from tests.eval.crafted import crafted


def _run(ndcg: float, faithfulness: float | None = 0.9) -> Results:
    metrics = {"ndcg@10": [ndcg] * 10}
    if faithfulness is not None:
        metrics["faithfulness"] = [faithfulness] * 10
    return crafted({"default": metrics})


def test_fails_beyond_the_tolerance_naming_the_metric() -> None:
    failures = check_gate(_run(0.70), _run(0.72), parse_tolerances("ndcg@10=-0.01"))
    assert [(f.system, f.metric) for f in failures] == [("default", "ndcg@10")]
    assert "ndcg@10 0.7000 vs baseline 0.7200 (-0.0200, allowed -0.0100)" in str(failures[0])


def test_passes_within_the_tolerance() -> None:
    tolerances = parse_tolerances("ndcg@10=-0.01,faithfulness=-0.02")
    assert check_gate(_run(0.715, 0.885), _run(0.72, 0.9), tolerances) == []
    assert check_gate(_run(0.80), _run(0.72), {"ndcg@10": 0.05}) == []  # a demanded gain
    assert len(check_gate(_run(0.74), _run(0.72), {"ndcg@10": 0.05})) == 1


def test_a_vanished_metric_fails() -> None:
    failures = check_gate(_run(0.72, None), _run(0.72), {"faithfulness": -0.02})
    assert len(failures) == 1 and "faithfulness is missing" in str(failures[0])


def test_systems_are_matched_by_name() -> None:
    current = crafted({"default": {"ndcg@10": [0.5] * 4}, "bm25": {"ndcg@10": [0.9] * 4}})
    baseline = crafted({"default": {"ndcg@10": [0.6] * 4}, "bm25": {"ndcg@10": [0.6] * 4}})
    failures = check_gate(current, baseline, {"ndcg@10": -0.01})
    assert [f.system for f in failures] == ["default"]
    other = crafted({"x": {"ndcg@10": [0.6] * 4}, "y": {"ndcg@10": [0.6] * 4}})
    with pytest.raises(ConfigError, match="no system of this run matches"):
        check_gate(current, other, {"ndcg@10": -0.01})


def test_bad_tolerances_are_refused() -> None:
    for text in ("ndcg@10", "ndcg@10=a", "=1", ""):
        with pytest.raises(ConfigError, match="metric=change"):
            parse_tolerances(text)
    with pytest.raises(ConfigError, match="no metric nope"):
        check_gate(_run(0.7), _run(0.7), {"nope": 0.0})


def test_results_round_trip_through_json() -> None:
    results = _run(0.7)
    again = Results.from_json(results.to_json())
    assert again.systems[0].summary("ndcg@10") == results.systems[0].summary("ndcg@10")
    with pytest.raises(ValueError, match="format"):
        Results.from_json({"format": 99})
