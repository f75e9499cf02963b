"""Confidence intervals and paired significance on per-question scores.

- `bootstrap_ci`: the 95% percentile bootstrap interval of a mean (Efron & Tibshirani 1993):
  resample the questions with replacement, take the 2.5th and 97.5th percentiles of the
  resampled means.
- `paired_permutation`: the two-sided paired randomisation test (Fisher; as used for IR by
  Smucker, Allan & Carterette 2007): under the null hypothesis the two systems' scores on a
  question are exchangeable, so each paired difference keeps or flips its sign with
  probability 1/2. p = share of sign assignments whose |mean difference| is at least the
  observed one. Exact (all 2^n assignments) for up to `EXACT_MAX` questions with a non-zero
  difference; otherwise `rounds` random assignments with p = (hits + 1) / (rounds + 1), which
  never reports p = 0 (Phipson & Smyth 2010).

Both are seeded, so a report is reproducible.

Example:
    >>> paired_permutation([1.0, 1.0, 1.0], [0.0, 0.0, 0.0])
    0.25
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

__all__ = ["EXACT_MAX", "bootstrap_ci", "paired_permutation", "percentile"]

EXACT_MAX = 16  # 2^16 sign assignments: exact, and still fast
ROUNDS = 10_000
SEED = 20240601
_TOLERANCE = 1e-12  # a resampled difference equal to the observed one (floating point) counts


def percentile(values: Sequence[float], q: float, empty: float = float("nan")) -> float:
    """The `q`th percentile of `values` (linear interpolation); `empty` when there are none."""
    return float(np.percentile(values, q)) if len(values) else empty


def bootstrap_ci(
    values: Sequence[float], rounds: int = ROUNDS, seed: int = SEED, level: float = 0.95
) -> tuple[float, float]:
    """The percentile bootstrap interval of the mean of `values` ((nan, nan) when empty)."""
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, data.size, size=(rounds, data.size))].mean(axis=1)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return (float(low), float(high))


def paired_permutation(
    a: Sequence[float], b: Sequence[float], rounds: int = ROUNDS, seed: int = SEED
) -> float:
    """Two-sided p-value that systems `a` and `b` (scores on the same questions, in the
    same order) differ in mean.

    Raises:
        ValueError: `a` and `b` differ in length.
    """
    if len(a) != len(b):
        raise ValueError(f"paired scores differ in length: {len(a)} and {len(b)}")
    diffs = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    diffs = diffs[diffs != 0]  # a zero difference is the same under either sign
    if diffs.size == 0:
        return 1.0
    observed = abs(diffs.sum())
    if diffs.size <= EXACT_MAX:
        signs = np.array(list(itertools.product((1.0, -1.0), repeat=diffs.size)))
        sums = np.abs(signs @ diffs)
        return float(np.mean(sums >= observed - _TOLERANCE))
    rng = np.random.default_rng(seed)
    hits = 0
    for start in range(0, rounds, 1000):
        size = min(1000, rounds - start)
        signs = rng.choice((1.0, -1.0), size=(size, diffs.size))
        hits += int(np.sum(np.abs(signs @ diffs) >= observed - _TOLERANCE))
    return (hits + 1) / (rounds + 1)
