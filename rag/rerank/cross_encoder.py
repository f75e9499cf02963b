"""Cross-encoder reranking through sentence-transformers `CrossEncoder`.

Any local folder or cached model id works (bge-reranker-v2-m3, ms-marco-MiniLM-L-6-v2...).
The best `candidates` hits are scored as (query, chunk text) pairs in batches, each pair cut
to `max_length` tokens; they come back ordered by that score, with a `rerank` stage added
to each hit's stage scores. Hits past `candidates` keep their order after them.

Example:
    >>> config = RerankerConfig(path="/models/bge-reranker-v2-m3")
    >>> reranker = CrossEncoderReranker(config)  # doctest: +SKIP
    >>> reranker.rerank("leave carry-over", hits)[0].stage  # doctest: +SKIP
    'rerank'
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from rag.config import RerankerConfig
from rag.errors import ModelUnavailableError
from rag.index import contextual_text
from rag.model_folder import model_dir
from rag.types import Hit, StageScore

__all__ = ["CrossEncoderReranker"]

logger = logging.getLogger(__name__)


class CrossEncoderReranker:
    """Scores (query, chunk) pairs with a cross-encoder; higher is more relevant."""

    def __init__(self, config: RerankerConfig) -> None:
        self._config = config
        self._model: Any = None

    def warm_up(self) -> None:
        """Load the model from its local folder; a second call does nothing."""
        if self._model is not None:
            return
        path = model_dir(self._config.model, self._config.path, "RAG_RERANKER__PATH")
        from sentence_transformers import CrossEncoder

        try:
            self._model = CrossEncoder(
                str(path), device=self._config.device, max_length=self._config.max_length
            )
        except (OSError, ValueError) as exc:
            raise ModelUnavailableError(
                f"cannot load the reranker from {path}: {exc}; set RAG_RERANKER__PATH to a "
                "cross-encoder folder (config.json, weights, tokenizer)"
            ) from exc
        logger.info("loaded reranker from %s", path)

    def scores(self, query: str, texts: Sequence[str]) -> list[float]:
        """The model's relevance score of each text for `query`."""
        self.warm_up()
        if not texts:
            return []
        values = self._model.predict(
            [(query, text) for text in texts],
            batch_size=self._config.batch_size,
            show_progress_bar=False,
            convert_to_numpy=True,
        )
        return [float(v) for v in values]

    def rerank(self, query: str, hits: Sequence[Hit]) -> list[Hit]:
        head, tail = list(hits[: self._config.candidates]), list(hits[self._config.candidates :])
        scores = self.scores(query, [contextual_text(h.chunk) for h in head])
        order = sorted(range(len(head)), key=lambda i: -scores[i])
        ranked = [
            replace(
                head[i],
                score=scores[i],
                stage="rerank",
                stages=(*head[i].stages, StageScore("rerank", scores[i], rank)),
            )
            for rank, i in enumerate(order, 1)
        ]
        return ranked + tail
