"""The embedder contract: texts in, L2-normalised float32 vectors out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

__all__ = ["Embedder", "ModelFingerprint", "Tokenizer"]


@dataclass(frozen=True, slots=True)
class ModelFingerprint:
    """What identifies an embedding model in the index manifest: the model, and what ran it
    (`backend`: sentence_transformers, onnx, onnx-int8), since two runners of one model give
    vectors that differ a little and are not mixed unknowingly."""

    name: str
    sha256: str
    dimension: int
    backend: str = "sentence_transformers"


class Tokenizer(Protocol):
    """The embedding model's own tokenizer, as the splitter needs it."""

    @property
    def max_tokens(self) -> int:
        """Word pieces the model reads per input, special tokens excluded."""
        ...

    def count(self, texts: Sequence[str]) -> list[int]:
        """Number of word pieces in each text, special tokens excluded."""
        ...

    def offsets(self, text: str) -> list[tuple[int, int]]:
        """Character span of each word piece of `text`."""
        ...


class Embedder(Protocol):
    """Turns texts into vectors. Cheap to construct; `warm_up()` loads the model."""

    def warm_up(self) -> None:
        """Load the model; safe to call twice."""
        ...

    @property
    def fingerprint(self) -> ModelFingerprint:
        """Name, file hash and dimension of the loaded model."""
        ...

    @property
    def tokenizer(self) -> Tokenizer:
        """The model's tokenizer."""
        ...

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors for passages, shape (len(texts), dimension), normalised."""
        ...

    def embed_query(self, text: str) -> np.ndarray:
        """Vector for one query, shape (dimension,), normalised."""
        ...

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors for several queries at once, shape (len(texts), dimension)."""
        ...
