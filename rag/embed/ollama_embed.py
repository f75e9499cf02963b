"""embedder.backend = "ollama": Ollama's embed call (`/api/embed`) through the official
client, as `OllamaEmbeddings(model="nomic-embed-text")` users have it. The model's digest
(from Ollama's list of models) is its identity in the manifest, so a model pulled again
with other weights under the same name is refused too. Texts past the model's context are
cut by Ollama (`truncate`); chunks are sized within `embedder.max_input_tokens` first.

Example:
    >>> embedder = OllamaEmbedder(EmbedderConfig(backend="ollama",
    ...     model="nomic-embed-text"))  # doctest: +SKIP
    >>> embedder.embed_query("how many days of leave?").shape  # doctest: +SKIP
    (768,)
"""

from __future__ import annotations

from typing import Any

from rag.config import EmbedderConfig
from rag.embed.remote import RemoteEmbedder
from rag.errors import ModelUnavailableError
from rag.generate.ollama_backend import DEFAULT_HOST, retryable

__all__ = ["OllamaEmbedder"]


class OllamaEmbedder(RemoteEmbedder):
    """One Ollama server, one model; connects on first use."""

    backend = "ollama"

    def __init__(self, config: EmbedderConfig) -> None:
        super().__init__(config, (config.base_url or DEFAULT_HOST).rstrip("/"))
        import httpx
        import ollama

        headers = {}
        if key := config.api_key.get_secret_value():
            headers["Authorization"] = f"Bearer {key}"
        self._client: Any = ollama.Client(
            host=self.server,
            timeout=httpx.Timeout(config.read_timeout_s, connect=config.connect_timeout_s),
            headers=headers,
        )

    def _request(self, texts: list[str]) -> list[list[float]]:
        reply = self._client.embed(model=self._config.model, input=texts, truncate=True)
        return [list(vector) for vector in reply.embeddings]

    def _identity(self) -> str:
        name = self._config.model
        full = name if ":" in name else f"{name}:latest"
        for model in self._client.list().models:
            if model.model in (name, full) and model.digest:
                return str(model.digest)
        return ""

    _retryable = staticmethod(retryable)  # the generation backend's sorting, same client

    def _error(self, exc: Exception) -> Exception:
        import ollama

        if not isinstance(exc, ollama.ResponseError):
            return exc
        if exc.status_code == 404:
            return ModelUnavailableError(
                f"Ollama at {self.server} has no model {self._config.model!r} ({exc.error}); "
                f"`ollama pull {self._config.model}` it, or set embedder.model"
            )
        if exc.status_code in (401, 403):
            return ModelUnavailableError(
                f"Ollama at {self.server} refused the API key ({exc.status_code}); set "
                "RAG_EMBEDDER__API_KEY"
            )
        return ModelUnavailableError(f"Ollama answered {exc.status_code}: {exc.error}")
