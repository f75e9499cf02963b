"""sentence-transformers embedder; the default is the bundled all-MiniLM-L6-v2.

Example:
    >>> from rag.config import EmbedderConfig
    >>> embedder = SentenceTransformerEmbedder(EmbedderConfig())
    >>> embedder.warm_up()  # doctest: +SKIP
    >>> embedder.embed_query("how many days of leave?").shape  # doctest: +SKIP
    (384,)
"""

from __future__ import annotations

import copy
import logging
from typing import Any

import numpy as np

from rag.config import EmbedderConfig
from rag.embed.base import ModelEmbedder, ModelFingerprint
from rag.embed.model_files import HFTokenizer, hash_model_dir, resolve_model_dir
from rag.errors import ModelUnavailableError

__all__ = ["SentenceTransformerEmbedder"]

logger = logging.getLogger(__name__)


class SentenceTransformerEmbedder(ModelEmbedder):
    """Embeds with a local sentence-transformers model, batched and normalised."""

    def __init__(self, config: EmbedderConfig) -> None:
        super().__init__((config.query_prefix, config.document_prefix))
        self._config = config
        self._model: Any = None
        # Hugging Face fast tokenizers fail ("Already borrowed") when two threads encode at
        # once with the padding settings sentence-transformers sets per call: one call runs
        # at a time under the lock (the cores are busy with that one anyway).

    def _load(self) -> None:
        path = resolve_model_dir(self._config)
        from sentence_transformers import SentenceTransformer

        try:
            model = SentenceTransformer(str(path), device=self._config.device)
        except (OSError, ValueError) as exc:
            raise ModelUnavailableError(
                f"cannot load the embedding model from {path}: {exc}; check RAG_EMBEDDER__PATH"
            ) from exc
        backend = copy.deepcopy(getattr(model.tokenizer, "backend_tokenizer", None))
        if backend is None:
            raise ModelUnavailableError(
                f"the model at {path} has no fast tokenizer; chunk sizes need one "
                "(save the model with a tokenizer.json)"
            )
        # Counting must see the whole text: the model's copy pads and truncates.
        backend.no_padding()
        backend.no_truncation()
        # [CLS] and [SEP] take two of the model's positions.
        self._tokenizer = HFTokenizer(backend, int(model.max_seq_length or 512) - 2)
        dimension = int(model.get_embedding_dimension() or 0)
        self._model = model
        self._fingerprint = ModelFingerprint(  # last: it marks the model as loaded
            self._config.model, hash_model_dir(path), dimension, "sentence_transformers"
        )
        logger.info(
            "loaded embedding model %s from %s (dim %d)", self._config.model, path, dimension
        )

    def _encode(self, texts: list[str]) -> np.ndarray:
        self.warm_up()
        if not texts:
            return np.zeros((0, self.fingerprint.dimension), dtype=np.float32)
        with self._lock:
            vectors = self._model.encode(
                texts,
                batch_size=self._config.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.asarray(vectors, dtype=np.float32)
