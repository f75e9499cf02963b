"""Embedders that call a server serving the model (the openai and ollama backends).

What they share: texts are sent `batch_size` at a time, at most `parallel_requests`
requests at once, in order; each request goes through the generation layer's retries (with
back-off, on connection errors, timeouts, 429 and 503) and circuit breaker; the first reply
gives the dimension (a probe text is embedded at `warm_up`), and every later reply must
match it; vectors are L2-normalised here (servers differ on whether they do it). The
model's identity in the manifest is (backend, server, name, dimension, and the server's
digest where it gives one), so an index built by another served model is refused.

Chunk sizes are counted with `embedder.tokenizer` (the served model's tokenizer.json) when
set, else with a safe estimate (rag.embed.estimate), within `embedder.max_input_tokens`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import numpy as np

from rag.config import EmbedderConfig
from rag.embed.base import ModelEmbedder, ModelFingerprint, Tokenizer
from rag.embed.estimate import EstimatedTokenizer
from rag.embed.model_files import HFTokenizer
from rag.errors import ConfigError, ModelUnavailableError
from rag.generate.resilience import CircuitBreaker, call_sorted

T = TypeVar("T")

__all__ = ["RemoteEmbedder", "served_tokenizer"]

_PROBE = "dimension probe"
_SPECIAL = 2  # room left for the model's own start and end tokens


def served_tokenizer(config: EmbedderConfig) -> Tokenizer:
    """The tokenizer chunks are counted with: the served model's, or the estimate.

    Raises:
        ConfigError: `embedder.tokenizer` names a folder without tokenizer.json.
    """
    limit = config.max_input_tokens - _SPECIAL
    if not config.tokenizer:
        return EstimatedTokenizer(limit)
    from tokenizers import Tokenizer as HFBackend

    file = Path(config.tokenizer).expanduser()
    file = file / "tokenizer.json" if file.is_dir() else file
    try:
        backend = HFBackend.from_file(str(file))
    except Exception as exc:  # noqa: BLE001 - tokenizers raises its own untyped errors
        raise ConfigError(
            f"embedder.tokenizer = {config.tokenizer!r}: cannot read a tokenizer.json there "
            f"({exc}); name the served model's folder, or unset it for a safe estimate"
        ) from exc
    backend.no_padding()
    backend.no_truncation()
    return HFTokenizer(backend, limit)


class RemoteEmbedder(ModelEmbedder):
    """Base of the served embedders: subclasses send one batch (`_request`) and say who
    they are (`_identity`)."""

    backend = ""

    def __init__(self, config: EmbedderConfig, server: str) -> None:
        super().__init__((config.query_prefix, config.document_prefix))
        if not config.model:
            raise ConfigError(
                f"embedder.backend = {self.backend} needs embedder.model (the served model's "
                "name); set RAG_EMBEDDER__MODEL"
            )
        self._config, self.server = config, server
        self._breaker = CircuitBreaker(config.breaker_failures, config.breaker_reset_s)
        self._dimension = 0

    def _request(self, texts: list[str]) -> list[list[float]]:
        """The server's vectors for one batch (called through the retries)."""
        raise NotImplementedError

    def _identity(self) -> str:
        """The server's digest of the model, or "" when it gives none."""
        return ""

    def _retryable(self, exc: Exception) -> bool:
        """Whether `exc` (raised by a call to the server) is worth another try."""
        raise NotImplementedError

    def _error(self, exc: Exception) -> Exception:
        """What to raise for a failure that is not worth another try."""
        raise NotImplementedError

    def _retried(self, action: Callable[[], T]) -> T:
        """`action()` through the retries and the circuit breaker."""
        return call_sorted(
            action,
            retryable=self._retryable,
            error=self._error,
            retries=self._config.retries,
            backoff_s=self._config.backoff_s,
            breaker=self._breaker,
            what=f"the embedding server at {self.server}",
        )

    def _call(self, texts: list[str]) -> np.ndarray:
        rows = self._retried(lambda: self._request(texts))
        try:
            vectors = np.asarray(rows, dtype=np.float32)
        except ValueError:  # ragged: a vector per token, not per text
            vectors = np.zeros((0,), dtype=np.float32)
        if vectors.ndim != 2 or len(vectors) != len(texts):
            raise ModelUnavailableError(
                f"the embedding server at {self.server} did not answer one vector for each "
                f"of {len(texts)} texts; is {self._config.model!r} an embedding model (one "
                "vector per text: a llama.cpp server needs --embedding and a pooling type)?"
            )
        if self._dimension and vectors.shape[1] != self._dimension:
            raise ModelUnavailableError(
                f"the embedding server at {self.server} answered vectors of "
                f"{vectors.shape[1]} dimensions, earlier {self._dimension}: the served model "
                "changed while this process ran; restart it"
            )
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return np.asarray(vectors / np.maximum(norms, 1e-12), dtype=np.float32)

    def _load(self) -> None:
        tokenizer = served_tokenizer(self._config)
        self._dimension = int(self._call([_PROBE]).shape[1])  # the first reply's dimension
        digest = (
            self._retried(self._identity)
            or hashlib.sha256(
                f"{self.backend}\x00{self.server}\x00{self._config.model}".encode()
            ).hexdigest()
        )
        self._tokenizer = tokenizer
        self._fingerprint = ModelFingerprint(
            self._config.model, digest, self._dimension, self.backend, self.server
        )

    def _encode(self, texts: list[str]) -> np.ndarray:
        self.warm_up()
        if not texts:
            return np.zeros((0, self._dimension), dtype=np.float32)
        step = self._config.batch_size
        batches = [texts[i : i + step] for i in range(0, len(texts), step)]
        if len(batches) == 1:
            return self._call(batches[0])
        send: Callable[[list[str]], np.ndarray] = self._call
        workers = min(self._config.parallel_requests, len(batches))
        with ThreadPoolExecutor(workers, thread_name_prefix="rag-embed") as pool:
            return np.concatenate(list(pool.map(send, batches)))
