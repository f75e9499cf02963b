"""Bootstrap intervals and the paired permutation test on crafted scores with known answers,
and against scipy's permutation test."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as scipy_stats

from eval.stats import EXACT_MAX, bootstrap_ci, paired_permutation


def test_exact_small_cases() -> None:
    # 3 questions, each +1: of the 8 sign assignments only all-plus and all-minus reach |3|.
    assert paired_permutation([1.0, 1.0, 1.0], [0.0, 0.0, 0.0]) == 0.25
    # identical systems: no evidence at all
    assert paired_permutation([0.3, 0.7, 0.1], [0.3, 0.7, 0.1]) == 1.0
    # differences +1, -1: every assignment reaches |0| or more
    assert paired_permutation([1.0, 0.0], [0.0, 1.0]) == 1.0
    # 10 questions all better by the same amount: 2 of 1024 assignments
    assert paired_permutation([0.9] * 10, [0.4] * 10) == pytest.approx(2 / 1024)
    with pytest.raises(ValueError, match="differ in length"):
        paired_permutation([1.0], [1.0, 2.0])


def test_matches_scipy_exact() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.random(12), rng.random(12) * 0.8
    theirs = scipy_stats.permutation_test(
        (a, b),
        lambda x, y: np.mean(x - y),
        permutation_type="samples",
        alternative="two-sided",
        n_resamples=np.inf,
    ).pvalue
    assert paired_permutation(a, b) == pytest.approx(theirs, abs=1e-9)


def test_sampled_for_many_questions() -> None:
    rng = np.random.default_rng(2)
    base = rng.random(300)
    better = np.clip(base + 0.05 + rng.normal(0, 0.05, 300), 0, 1)
    assert paired_permutation(better, base) < 0.001  # a clear, consistent gain
    noise = base + rng.normal(0, 0.05, 300)
    p = paired_permutation(noise - noise.mean() + base.mean(), base)
    assert p > 0.2  # no systematic difference
    assert paired_permutation(better, base) == paired_permutation(better, base)  # seeded
    assert len(base) > EXACT_MAX


def test_bootstrap_interval() -> None:
    assert bootstrap_ci([0.5] * 20) == (0.5, 0.5)
    low, high = bootstrap_ci([0.0, 1.0] * 100)
    assert low < 0.5 < high and high - low < 0.2  # about ±1.96 * 0.5 / sqrt(200) = ±0.069
    assert np.isnan(bootstrap_ci([])[0])
