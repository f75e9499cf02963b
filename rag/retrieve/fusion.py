"""Merging ranked lists from several searches into one, by chunk id.

- Reciprocal-rank fusion (Cormack, Clarke and Buettcher, SIGIR 2009):
  score(d) = sum over lists i of w_i / (k + rank_i(d)), rank 1-based, k = 60 in the paper.
- Weighted scores: each list's scores normalised, then score(d) = sum over lists i of
  w_i * norm_i(d). `minmax` maps each list to [0, 1] and a list that misses d counts 0;
  `zscore` maps it to (score - mean) / standard deviation and a miss counts the list's lowest.

Both return every id of every list once, best first; ties keep first-seen order.

Example:
    >>> rrf({"dense": ["a", "b"], "bm25": ["b", "c"]}, k=60)
    [('b', 0.03252247488101534), ('a', 0.01639344262295082), ('c', 0.016129032258064516)]
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from typing import Literal

__all__ = ["rrf", "weighted"]

Normalization = Literal["minmax", "zscore"]


def rrf(
    rankings: Mapping[str, Sequence[str]],
    k: float = 60.0,
    weights: Mapping[str, float] | None = None,
) -> list[tuple[str, float]]:
    """Reciprocal-rank fusion of ranked id lists (best first), keyed by list name."""
    if k < 0:
        raise ValueError(f"k must be at least 0. Currently, the k is {k}")
    scores: dict[str, float] = {}
    for name, ids in rankings.items():
        weight = 1.0 if weights is None else weights.get(name, 1.0)
        for rank, chunk_id in enumerate(ids, 1):
            scores[chunk_id] = scores.get(chunk_id, 0.0) + weight / (k + rank)
    return _sorted(scores)


def weighted(
    results: Mapping[str, Sequence[tuple[str, float]]],
    weights: Mapping[str, float] | None = None,
    normalization: Normalization = "minmax",
) -> list[tuple[str, float]]:
    """Weighted sum of normalised scores; `results` are (id, score) lists."""
    ids = list(dict.fromkeys(i for pairs in results.values() for i, _ in pairs))
    scores = dict.fromkeys(ids, 0.0)
    for name, pairs in results.items():
        weight = 1.0 if weights is None else weights.get(name, 1.0)
        if weight == 0 or not pairs:
            continue
        norms, floor = _normalise([s for _, s in pairs], normalization)
        found = {chunk_id: n for (chunk_id, _), n in zip(pairs, norms, strict=True)}
        for chunk_id in ids:
            scores[chunk_id] += weight * found.get(chunk_id, floor)
    return _sorted(scores)


def _normalise(values: list[float], how: Normalization) -> tuple[list[float], float]:
    """Normalised values, and the value an id missing from the list counts as."""
    if how == "minmax":
        low, span = min(values), max(values) - min(values)
        return [(v - low) / span if span > 0 else 1.0 for v in values], 0.0
    mean, spread = statistics.fmean(values), statistics.pstdev(values)
    if spread == 0:  # one value, or all equal: present 0, missing one deviation below
        return [0.0] * len(values), -1.0
    norms = [(v - mean) / spread for v in values]
    return norms, min(norms)


def _sorted(scores: dict[str, float]) -> list[tuple[str, float]]:
    order = {chunk_id: i for i, chunk_id in enumerate(scores)}
    return sorted(scores.items(), key=lambda item: (-item[1], order[item[0]]))
