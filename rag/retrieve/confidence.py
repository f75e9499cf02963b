"""A calibrated confidence per hit: the probability that the chunk is relevant.

A search's own scores cannot say whether a question is answered: fused scores are
normalised per question (the best hit always reads 1), BM25 scores grow with the question's
length and the corpus's statistics, and a cosine means different things for different
models. The confidence is a logistic model of two scores that do carry meaning:

- `dense`: the cosine of the question (as asked) to the chunk, when the embedder reads the
  question's language (for a chunk the dense search did not return: its lowest cosine);
- `bm25`: the chunk's BM25 score over the highest score any chunk could reach for that
  question (`LexicalIndex.ceiling`): the share of the question's term weight it matches.

    confidence = 1 / (1 + exp(-(bias + w_dense * dense + w_bm25 * bm25)))

A question the embedder cannot read (Chinese with the English-only MiniLM) uses the BM25-only
model, and so does every question when the embedder is not the one the dense model was
fitted for (`[retrieval.confidence] embedder`). The coefficients were fitted once on our
labelled pairs (`python -m eval.calibrate`: SciFact and the HotpotQA and CMRC 2018
development sets; README "Scores that mean something") for the bundled all-MiniLM-L6-v2;
another embedder gets them refitted by the same command and set in `[retrieval.confidence]`.

Example:
    >>> Logistic(bias=-5.0, weights={"bm25": 10.0}).probability({"bm25": 0.5})
    0.5
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

from rag.config import ConfidenceConfig, LogisticModel
from rag.types import Hit

__all__ = ["Calibrator", "Logistic", "hit_features"]

Ranked = Sequence[tuple[str, float]]


class Logistic:
    """P(relevant) from named features."""

    def __init__(self, bias: float, weights: Mapping[str, float]) -> None:
        self.bias, self.weights = bias, dict(weights)

    @classmethod
    def of(cls, model: LogisticModel) -> Logistic:
        return cls(model.bias, model.weights)

    def probability(self, features: Mapping[str, float]) -> float:
        z = self.bias + sum(w * features.get(name, 0.0) for name, w in self.weights.items())
        return 1.0 / (1.0 + math.exp(-z)) if z > -700 else 0.0


class Calibrator:
    """Sets `Hit.confidence` from the dense and BM25 lists a hybrid search produced."""

    def __init__(self, config: ConfidenceConfig, embedder: Callable[[], str]) -> None:
        """`embedder` gives the name of the model that embeds the questions (asked once, at
        the first search: a served model is not called before)."""
        self._config, self._embedder = config, embedder
        self._lexical = Logistic.of(config.lexical)
        self._dense: Logistic | None | bool = False  # False: not decided yet

    def _dense_model(self) -> Logistic | None:
        # Cosines of another model than the one the dense model was fitted for mean
        # something else: the BM25 share alone then.
        if self._dense is False:
            fitted = self._embedder() == self._config.embedder
            self._dense = Logistic.of(self._config.dense) if fitted else None
        return self._dense if isinstance(self._dense, Logistic) else None

    def apply(
        self, hits: Sequence[Hit], dense: Ranked | None, bm25: Ranked, ceiling: float
    ) -> list[Hit]:
        """The hits with their confidence; `dense` None when the question was not embedded
        (the BM25-only model), `ceiling` the BM25 score no chunk reaches for it."""
        model = (self._dense_model() if dense is not None else None) or self._lexical
        return [
            replace(hit, confidence=round(model.probability(features), 6))
            for hit, features in zip(hits, hit_features(hits, dense, bm25, ceiling), strict=True)
        ]


def hit_features(
    hits: Sequence[Hit], dense: Ranked | None, bm25: Ranked, ceiling: float
) -> list[dict[str, float]]:
    """Each hit's features: `bm25`, its BM25 score over `ceiling` (0 where BM25 did not
    find it), and, when the question was embedded, `dense`, its cosine (a chunk the dense
    search did not return: the lowest cosine it did)."""
    cosines = dict(dense or ())
    floor = min(cosines.values(), default=0.0)
    lexical = dict(bm25)
    out = []
    for hit in hits:
        chunk_id = hit.chunk.chunk_id
        features = {"bm25": lexical.get(chunk_id, 0.0) / ceiling if ceiling > 0 else 0.0}
        if dense is not None:
            features["dense"] = cosines.get(chunk_id, floor)
        out.append(features)
    return out
