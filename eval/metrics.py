"""IR metrics at document level, with trec_eval's definitions (checked against pytrec_eval).

A run is each query's documents in rank order; qrels give graded relevance (> 0 relevant).

- nDCG@k: sum of rel / log2(rank + 1) over the top k, divided by the same sum for the ideal
  ordering of the judged documents (linear gain, as trec_eval's `ndcg_cut`).
- Recall@k: relevant documents in the top k / relevant documents.
- MRR@k: 1 / rank of the first relevant document in the top k, else 0.
- MAP@k: sum of precision at the rank of each relevant document in the top k / relevant.
- hit_rate@k: 1 when a relevant document is in the top k, else 0 (trec_eval's `success`).

A query with no relevant document is left out, as trec_eval does.

Example:
    >>> evaluate({"q": ["d2", "d1"]}, {"q": {"d1": 1}})["mrr@10"]
    0.5
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

__all__ = ["METRICS", "PRIMARY", "evaluate", "judged_queries", "per_query"]

METRICS = ("ndcg@10", "recall@10", "recall@100", "mrr@10", "map@100", "hit_rate@10")
PRIMARY = "ndcg@10"


def per_query(ranked: Sequence[str], rels: Mapping[str, int]) -> dict[str, float]:
    """Every metric in `METRICS` for one query."""
    relevant = {d for d, r in rels.items() if r > 0}
    out: dict[str, float] = {}
    for name in METRICS:
        metric, k = name.split("@")
        top = ranked[: int(k)]
        if metric == "ndcg":
            out[name] = _ndcg(top, rels, int(k))
        elif metric == "recall":
            out[name] = sum(1 for d in top if d in relevant) / len(relevant)
        elif metric == "hit_rate":
            out[name] = float(any(d in relevant for d in top))
        elif metric == "mrr":
            out[name] = next((1 / i for i, d in enumerate(top, 1) if d in relevant), 0.0)
        else:
            hits, total = 0, 0.0
            for i, d in enumerate(top, 1):
                if d in relevant:
                    hits += 1
                    total += hits / i
            out[name] = total / len(relevant)
    return out


def _ndcg(top: Sequence[str], rels: Mapping[str, int], k: int) -> float:
    dcg = sum(max(rels.get(d, 0), 0) / math.log2(i + 1) for i, d in enumerate(top, 1))
    ideal = sorted((r for r in rels.values() if r > 0), reverse=True)[:k]
    best = sum(r / math.log2(i + 1) for i, r in enumerate(ideal, 1))
    return dcg / best if best > 0 else 0.0


def judged_queries(
    run: Mapping[str, Sequence[str]], qrels: Mapping[str, Mapping[str, int]]
) -> dict[str, dict[str, float]]:
    """Every metric per judged query (a query missing from `run` scores 0)."""
    judged = [q for q, rels in qrels.items() if any(r > 0 for r in rels.values())]
    return {query: per_query(run.get(query, []), qrels[query]) for query in judged}


def evaluate(
    run: Mapping[str, Sequence[str]], qrels: Mapping[str, Mapping[str, int]]
) -> dict[str, float]:
    """Mean of every metric over the judged queries (a query missing from `run` scores 0)."""
    scores = judged_queries(run, qrels)
    if not scores:
        return dict.fromkeys(METRICS, 0.0)
    return {name: sum(s[name] for s in scores.values()) / len(scores) for name in METRICS}
