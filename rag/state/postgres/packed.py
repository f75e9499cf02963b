"""Packed BM25 postings: one array per term of 16-byte records (chunk number, tf, chunk
length; big-endian, as PostgreSQL's `int8send || int4send || int4send` writes them),
scored here with numpy: a search reads a few rows of bytes instead of hundreds of thousands
of posting rows, and PostgreSQL's per-row work, not the arithmetic, was the cost.

Example:
    >>> blob = np.array([(7, 2, 10)], dtype=POSTING).tobytes()
    >>> [(num, round(score, 4)) for num, score in top_k([(blob, 1.0)], Formula(1.5, 0.75, 10.0), 1)]
    [(7, 1.4286)]
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["POSTING", "Formula", "top_k", "without"]

POSTING = np.dtype([("num", ">i8"), ("tf", ">i4"), ("dl", ">i4")])


@dataclass(frozen=True, slots=True)
class Formula:
    """BM25's constants for one search: k1, b and the mean chunk length."""

    k1: float
    b: float
    avgdl: float


def top_k(
    lists: Sequence[tuple[bytes, float]],
    formula: Formula,
    k: int,
    excluded: Collection[int] = (),
    allowed: Collection[int] | None = None,
) -> list[tuple[int, float]]:
    """The `k` best (chunk number, score) of these packed lists, each with its term's weight:
    best first, equal scores by chunk number (as the SQL ranking orders them); only positive
    scores; never a number in `excluded` (removed chunks); with `allowed`, only those."""
    parts = [(np.frombuffer(blob, dtype=POSTING), weight) for blob, weight in lists if blob]
    if not parts or k <= 0:
        return []
    nums = np.concatenate([p["num"] for p, _ in parts]).astype(np.int64)
    scores = np.concatenate([_impact(p, weight, formula) for p, weight in parts])
    keys, sums = _sum_by_number(nums, scores)
    keep = sums > 0
    if excluded:
        keep &= ~np.isin(keys, np.fromiter(excluded, np.int64, len(excluded)))
    if allowed is not None:
        keep &= np.isin(keys, np.fromiter(allowed, np.int64, len(allowed)))
    keys, sums = keys[keep], sums[keep]
    if len(sums) > k:  # every chunk scoring at least the k-th best (ties included)
        kth = np.partition(sums, len(sums) - k)[len(sums) - k]
        chosen = sums >= kth
        keys, sums = keys[chosen], sums[chosen]
    order = np.lexsort((keys, -sums))[:k]
    return [(int(keys[i]), float(sums[i])) for i in order]


def without(blob: bytes, gone: Collection[int]) -> bytes:
    """The packed list less the postings of the chunk numbers in `gone`."""
    postings = np.frombuffer(blob, dtype=POSTING)
    dead = np.isin(postings["num"], np.fromiter(gone, np.int64, len(gone)))
    return postings[~dead].tobytes()


def _impact(postings: np.ndarray, weight: float, f: Formula) -> np.ndarray:
    """One term's share of each posting's chunk score, written as the SQL writes it."""
    tf = postings["tf"].astype(np.float64)
    dl = postings["dl"].astype(np.float64)
    return weight * tf * (f.k1 + 1) / (tf + f.k1 * ((1 - f.b) + f.b * dl / f.avgdl))


def _sum_by_number(nums: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distinct chunk numbers, the sum of their scores): a dense count when the numbers lie
    close together, else through a sort."""
    low, high = int(nums.min()), int(nums.max())
    if high - low < 8 * len(nums) + 1_000_000:
        sums = np.bincount(nums - low, weights=scores, minlength=high - low + 1)
        present = np.bincount(nums - low, minlength=high - low + 1) > 0
        keys = np.flatnonzero(present)
        return keys + low, sums[keys]
    keys, inverse = np.unique(nums, return_inverse=True)
    return keys, np.bincount(inverse, weights=scores, minlength=len(keys))
