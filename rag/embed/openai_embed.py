"""embedder.backend = "openai": any OpenAI-compatible `/v1/embeddings` (vLLM, LLaMA-Factory's
API server, llama.cpp's server with embeddings on, Hugging Face TEI), through the official
`openai` client, its own retries off (ours apply: rag.embed.remote).

Example:
    >>> embedder = OpenAIEmbedder(EmbedderConfig(backend="openai", model="bge-m3",
    ...     base_url="http://127.0.0.1:8000/v1"))  # doctest: +SKIP
    >>> embedder.embed_query("how many days of leave?").shape  # doctest: +SKIP
    (1024,)
"""

from __future__ import annotations

from typing import Any

from rag.config import EmbedderConfig
from rag.embed.remote import RemoteEmbedder
from rag.errors import ConfigError, ModelUnavailableError
from rag.generate.openai_backend import retryable

__all__ = ["OpenAIEmbedder"]


class OpenAIEmbedder(RemoteEmbedder):
    """One server, one model; connects on first use."""

    backend = "openai"

    def __init__(self, config: EmbedderConfig) -> None:
        if not config.base_url:
            raise ConfigError(
                "embedder.backend = openai needs embedder.base_url (e.g. "
                "http://127.0.0.1:8000/v1); set RAG_EMBEDDER__BASE_URL"
            )
        super().__init__(config, config.base_url.rstrip("/"))
        import openai

        self._client: Any = openai.OpenAI(
            base_url=self.server,
            api_key=config.api_key.get_secret_value() or "not-needed",
            timeout=openai.Timeout(config.read_timeout_s, connect=config.connect_timeout_s),
            max_retries=0,
        )

    def _request(self, texts: list[str]) -> list[list[float]]:
        # float: the client's default, base64, is not understood by every server
        reply = self._client.embeddings.create(
            model=self._config.model, input=texts, encoding_format="float"
        )
        return [item.embedding for item in sorted(reply.data, key=lambda item: item.index)]

    _retryable = staticmethod(retryable)  # the generation backend's sorting, same client

    def _error(self, exc: Exception) -> Exception:
        import openai

        if not isinstance(exc, openai.APIStatusError):
            return exc
        if exc.status_code in (401, 403):
            return ModelUnavailableError(
                f"the embedding server at {self.server} refused the API key "
                f"({exc.status_code}); set RAG_EMBEDDER__API_KEY"
            )
        if exc.status_code == 404:
            return ModelUnavailableError(
                f"the embedding server at {self.server} has no model "
                f"{self._config.model!r} or no /embeddings route ({exc.message}); check "
                "embedder.model and embedder.base_url (it ends in /v1)"
            )
        return ModelUnavailableError(
            f"the embedding server at {self.server} answered {exc.status_code}: {exc.message}"
        )
