"""Chat completions against vLLM or any OpenAI-compatible server (llama.cpp, SGLang,
LLaMA-Factory's API, FastChat), through the official `openai` client.

- Timeouts are ours, in seconds (`connect_timeout_s`, `read_timeout_s`), and the client's
  own retries are off (its default waits up to 600 s and retries twice): we retry connection
  errors, timeouts, 429 and 503 with back-off, behind a circuit breaker.
- `model` may name a LoRA adapter served by vLLM (`--lora-modules security=/path`).
- top_k and repetition_penalty are not OpenAI parameters: they go in the request body's
  extra fields, where vLLM, llama.cpp and SGLang read them.

Example:
    >>> backend = OpenAIBackend(GeneratorConfig(backend="openai",
    ...     base_url="http://127.0.0.1:8000/v1", model="security"))  # doctest: +SKIP
    >>> messages = [{"role": "user", "content": "hi"}]
    >>> "".join(backend.stream(messages, GenerationParams()))  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from rag.config import GenerationParams, GeneratorConfig
from rag.errors import ConfigError, GenerationError
from rag.generate.base import RETRY_STATUS, ChatBackend, ServedModel
from rag.generate.resilience import CircuitBreaker, call_sorted

__all__ = ["Message", "OpenAIBackend", "openai_params", "retryable"]

Message = Mapping[str, str]

logger = logging.getLogger(__name__)


def openai_params(params: GenerationParams) -> tuple[dict[str, Any], dict[str, Any]]:
    """(standard chat-completion arguments, extra body fields) for these parameters."""
    standard: dict[str, Any] = {}
    for name in ("temperature", "top_p", "max_tokens", "seed", "presence_penalty"):
        if getattr(params, name) is not None:
            standard[name] = getattr(params, name)
    if params.frequency_penalty is not None:
        standard["frequency_penalty"] = params.frequency_penalty
    if params.stop:
        standard["stop"] = list(params.stop)
    extra: dict[str, Any] = {}
    if params.top_k is not None:
        extra["top_k"] = params.top_k
    if params.repetition_penalty is not None:
        extra["repetition_penalty"] = params.repetition_penalty
    return standard, extra


def retryable(exc: Exception) -> bool:
    """Whether a failure of the `openai` client is worth another try: no connection, a
    timeout, or a status in RETRY_STATUS (429, 503...)."""
    import openai

    if isinstance(exc, openai.APIConnectionError | openai.APITimeoutError):
        return True
    return isinstance(exc, openai.APIStatusError) and exc.status_code in RETRY_STATUS


class OpenAIBackend(ChatBackend):
    """One server, one model; cheap to construct, connects on first use."""

    def __init__(self, config: GeneratorConfig, breaker: CircuitBreaker | None = None) -> None:
        if not config.base_url or not config.model:
            raise ConfigError(
                "generator.backend = openai needs generator.base_url (e.g. "
                "http://127.0.0.1:8000/v1) and generator.model (the served model name); set "
                "RAG_GENERATOR__BASE_URL and RAG_GENERATOR__MODEL"
            )
        self.config = config
        self._breaker = breaker or CircuitBreaker(config.breaker_failures, config.breaker_reset_s)
        self._client: Any = None
        self.name = f"{config.model} at {config.base_url}"

    def _openai(self, read_timeout_s: float | None = None) -> Any:
        import openai

        if self._client is None:
            self._client = openai.OpenAI(
                base_url=self.config.base_url,
                api_key=self.config.api_key.get_secret_value() or "not-needed",
                timeout=openai.Timeout(
                    self.config.read_timeout_s, connect=self.config.connect_timeout_s
                ),
                max_retries=0,
            )
        if read_timeout_s is None:
            return self._client
        timeout = openai.Timeout(read_timeout_s, connect=self.config.connect_timeout_s)
        return self._client.with_options(timeout=timeout)

    def _call(self, action: Any) -> Any:
        import openai

        def error(exc: Exception) -> Exception:
            return self._status_error(exc) if isinstance(exc, openai.APIStatusError) else exc

        return call_sorted(
            action,
            retryable=retryable,
            error=error,
            retries=self.config.retries,
            backoff_s=self.config.backoff_s,
            breaker=self._breaker,
            what=f"the model server at {self.config.base_url}",
        )

    def _status_error(self, exc: Any) -> GenerationError:
        if exc.status_code == 404:
            return GenerationError(
                f"the server at {self.config.base_url} does not serve model "
                f"{self.config.model!r} ({exc.status_code}); run `rag models check` to list "
                "the served models and LoRA adapters"
            )
        if exc.status_code in (401, 403):
            return GenerationError(
                f"the server at {self.config.base_url} refused the API key "
                f"({exc.status_code}); set RAG_GENERATOR__API_KEY"
            )
        return GenerationError(f"the model server answered {exc.status_code}: {exc.message}")

    def models(self) -> list[ServedModel]:
        """The models the server lists: base models, and LoRA adapters (vLLM lists each
        `--lora-modules` adapter with its base as `parent`)."""
        page = self._call(lambda: self._openai().models.list())
        served = []
        for m in page.data:
            parent = (m.model_extra or {}).get("parent")
            detail = f"LoRA adapter on {parent}" if parent else ""
            served.append(ServedModel(m.id, detail))
        return served

    def context_length(self, model: str) -> int | None:
        """vLLM lists `max_model_len` with each model; other servers may not say."""
        page = self._call(lambda: self._openai().models.list())
        for m in page.data:
            if m.id == model:
                length = (m.model_extra or {}).get("max_model_len")
                return int(length) if length else None
        return None

    def chat(self, messages: Sequence[Message], params: GenerationParams) -> str:
        """The whole reply."""
        return "".join(self.stream(messages, params))

    def stream(
        self,
        messages: Sequence[Message],
        params: GenerationParams,
        warn: Callable[[str], None] | None = None,
        read_timeout_s: float | None = None,
    ) -> Iterator[str]:
        """The reply, piece by piece as the server sends it. Retries happen before the
        first piece; a failure after it raises `GenerationError`. `warn` hears of an answer
        cut at max_tokens."""
        import openai

        standard, extra = openai_params(params)
        response = self._call(
            lambda: self._openai(read_timeout_s).chat.completions.create(
                model=self.config.model,
                messages=list(messages),
                stream=True,
                extra_body=extra or None,
                **standard,
            )
        )
        finished = False
        try:
            for event in response:
                if not event.choices:
                    continue
                if event.choices[0].delta.content:
                    yield event.choices[0].delta.content
                reason = event.choices[0].finish_reason
                finished = finished or reason is not None
                if reason == "length":
                    (warn or logger.warning)(
                        f"the answer was cut at max_tokens ({params.max_tokens}); raise "
                        "generator.params.max_tokens for longer answers"
                    )
        except (openai.APIError, OSError) as exc:
            raise GenerationError(f"the model server stopped mid-answer: {exc}") from exc
        finally:
            response.close()
        if not finished:
            # llama.cpp's server, for one, answers a prompt longer than its context with an
            # empty 200 stream: an error, not an empty answer.
            raise GenerationError(
                f"the model server at {self.config.base_url} ended the answer without "
                "finishing it; the prompt may exceed the model's context. Check "
                "generator.context_window against the server's (vLLM --max-model-len, "
                "llama.cpp --n_ctx) and set generator.tokenizer for exact token counts"
            )
