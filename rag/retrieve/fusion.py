"""Merging ranked lists from several searches into one, by chunk id.

- Reciprocal-rank fusion (Cormack, Clarke and Buettcher, SIGIR 2009):
  score(d) = sum over lists i of w_i / (k + rank_i(d)), rank 1-based, k = 60 in the paper.
- Weighted scores: each list's scores normalised, then score(d) = sum over lists i of
  w_i * norm_i(d), where a list that misses d counts its lowest normalised score. `minmax`
  maps each list to [0, 1]; `zscore` to (score - mean) / standard deviation.

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
    normalised = {
        name: _normalise([s for _, s in pairs], normalization)
        for name, pairs in results.items()
        if pairs
    }
    ids = list(dict.fromkeys(i for pairs in results.values() for i, _ in pairs))
    scores = dict.fromkeys(ids, 0.0)
    for name, norms in normalised.items():
        weight = 1.0 if weights is None else weights.get(name, 1.0)
        if weight == 0:
            continue
        floor = min(norms)
        found = {chunk_id: n for (chunk_id, _), n in zip(results[name], norms, strict=True)}
        for chunk_id in ids:
            scores[chunk_id] += weight * found.get(chunk_id, floor)
    return _sorted(scores)


def _normalise(values: list[float], how: Normalization) -> list[float]:
    if how == "minmax":
        low, span = min(values), max(values) - min(values)
        return [(v - low) / span if span > 0 else 1.0 for v in values]
    mean, spread = statistics.fmean(values), statistics.pstdev(values)
    return [(v - mean) / spread if spread > 0 else 0.0 for v in values]


def _sorted(scores: dict[str, float]) -> list[tuple[str, float]]:
    order = {chunk_id: i for i, chunk_id in enumerate(scores)}
    return sorted(scores.items(), key=lambda item: (-item[1], order[item[0]]))
