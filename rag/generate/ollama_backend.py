"""Chat against Ollama's native API through the official `ollama` client.

What the OpenAI-compatible route to Ollama gets wrong, and this backend does not:
- `num_ctx` is sent with every request, sized to the prompt plus the answer (rounded up to a
  power of two from 2048, so Ollama reloads the model rarely) and capped at the model's
  trained context (read once from `/api/show`). Without it Ollama cuts every prompt to its
  default context, silently. A prompt that cannot fit gets a warning that says what to lower.
- Parameters go by Ollama's names: `repeat_penalty`, `num_predict`, `top_k`, `seed`...
- `keep_alive` keeps the model loaded between questions.
- Timeouts are ours (seconds), with retries on connection errors, timeouts, 429 and 5xx
  overload codes, behind a circuit breaker, as for the `openai` backend.

Example:
    >>> backend = OllamaBackend(GeneratorConfig(backend="ollama", model="security"),
    ...     EstimatedCounter())  # doctest: +SKIP
    >>> hello = [{"role": "user", "content": "hi"}]
    >>> "".join(backend.stream(hello, GenerationParams()))  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.config import GenerationParams, GeneratorConfig
from rag.errors import ConfigError, GenerationError
from rag.generate.base import REPLY_ALLOWANCE, RETRY_STATUS, ChatBackend, ServedModel, Warn
from rag.generate.resilience import CircuitBreaker, call_sorted
from rag.generate.tokens import TokenCounter, prompt_tokens

__all__ = [
    "DEFAULT_HOST",
    "ModelInfo",
    "OllamaBackend",
    "num_ctx_for",
    "ollama_options",
    "retryable",
]

logger = logging.getLogger(__name__)

DEFAULT_HOST = "http://127.0.0.1:11434"
_MIN_CTX = 2048


def retryable(exc: Exception) -> bool:
    """Whether a failure of the `ollama` client is worth another try: no connection, a
    transport error (timeouts included), or a status in RETRY_STATUS."""
    import httpx
    import ollama

    if isinstance(exc, ConnectionError | httpx.TransportError):
        return True
    return isinstance(exc, ollama.ResponseError) and exc.status_code in RETRY_STATUS


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """What `/api/show` says about a model."""

    name: str
    context_length: int | None
    family: str | None
    has_template: bool
    parameters: str


def ollama_options(params: GenerationParams, num_ctx: int | None = None) -> dict[str, Any]:
    """Our parameters under Ollama's option names; unset ones are left out."""
    names = {
        "temperature": "temperature",
        "top_p": "top_p",
        "top_k": "top_k",
        "repetition_penalty": "repeat_penalty",
        "max_tokens": "num_predict",
        "seed": "seed",
        "presence_penalty": "presence_penalty",
        "frequency_penalty": "frequency_penalty",
    }
    options = {
        theirs: getattr(params, ours)
        for ours, theirs in names.items()
        if getattr(params, ours) is not None
    }
    if params.stop:
        options["stop"] = list(params.stop)
    if num_ctx is not None:
        options["num_ctx"] = num_ctx
    return options


def num_ctx_for(needed: int, model_context: int | None) -> int:
    """The context to ask for: `needed` rounded up to a power of two (at least 2048),
    at most the model's own context when known."""
    size = _MIN_CTX
    while size < needed:
        size *= 2
    return min(size, model_context) if model_context else size


class OllamaBackend(ChatBackend):
    """One Ollama server, one model; cheap to construct, connects on first use."""

    def __init__(
        self,
        config: GeneratorConfig,
        counter: TokenCounter,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        if not config.model:
            raise ConfigError(
                "generator.backend = ollama needs generator.model (a name `ollama list` "
                "shows, or one `rag models ollama-create` registered); set "
                "RAG_GENERATOR__MODEL"
            )
        self.config, self._counter = config, counter
        self._host = (config.base_url or DEFAULT_HOST).rstrip("/")
        self._breaker = breaker or CircuitBreaker(config.breaker_failures, config.breaker_reset_s)
        self._clients: dict[float, Any] = {}
        self._info: ModelInfo | None = None
        self.name = f"{config.model} at {self._host} (ollama)"

    def _client(self, read_timeout_s: float | None = None) -> Any:
        import httpx
        import ollama

        read = read_timeout_s or self.config.read_timeout_s
        if read not in self._clients:
            headers = {}
            if key := self.config.api_key.get_secret_value():
                headers["Authorization"] = f"Bearer {key}"
            self._clients[read] = ollama.Client(
                host=self._host,
                timeout=httpx.Timeout(read, connect=self.config.connect_timeout_s),
                headers=headers,
            )
        return self._clients[read]

    def _call(self, action: Callable[[], Any], model: str | None = None) -> Any:
        import ollama

        def error(exc: Exception) -> Exception:
            if isinstance(exc, ollama.ResponseError):
                return self._status_error(exc, model or self.config.model)
            return exc

        return call_sorted(
            action,
            retryable=retryable,
            error=error,
            retries=self.config.retries,
            backoff_s=self.config.backoff_s,
            breaker=self._breaker,
            what=f"Ollama at {self._host}",
        )

    def _status_error(self, exc: Any, model: str) -> GenerationError:
        if exc.status_code == 404:
            return GenerationError(
                f"Ollama at {self._host} has no model {model!r} ({exc.error}); "
                "`ollama pull` it, register a GGUF with `rag models ollama-create`, or run "
                "`rag models check` to list the models it has"
            )
        if exc.status_code in (401, 403):
            return GenerationError(
                f"Ollama at {self._host} refused the API key ({exc.status_code}); set "
                "RAG_GENERATOR__API_KEY"
            )
        return GenerationError(f"Ollama answered {exc.status_code}: {exc.error}")

    def models(self) -> list[ServedModel]:
        """The models Ollama has (`name:tag`)."""
        listing = self._call(lambda: self._client().list())
        served = []
        for m in listing.models:
            if not m.model:
                continue
            parts = [m.details.family or "", m.details.parameter_size or ""] if m.details else []
            if m.details and m.details.quantization_level:
                parts.append(m.details.quantization_level)
            served.append(ServedModel(m.model, " ".join(p for p in parts if p)))
        return served

    def info(self, model: str | None = None) -> ModelInfo:
        """The model's trained context length, family and template, from `/api/show`."""
        name = model or self.config.model
        shown = self._call(lambda: self._client().show(name), name)
        details = dict(shown.modelinfo or {})
        arch = details.get("general.architecture")
        context = details.get(f"{arch}.context_length") if arch else None
        family = shown.details.family if shown.details else None
        return ModelInfo(
            name=name,
            context_length=int(context) if context else None,
            family=family,
            has_template=bool(shown.template),
            parameters=shown.parameters or "",
        )

    def context_length(self, model: str) -> int | None:
        """The context length the GGUF was trained with (`/api/show`)."""
        return self.info(model).context_length

    def _model_context(self) -> int | None:
        if self._info is None:
            self._info = self.info()
        return self._info.context_length

    def chat(self, messages: Sequence[Mapping[str, str]], params: GenerationParams) -> str:
        """The whole reply."""
        return "".join(self.stream(messages, params))

    def stream(
        self,
        messages: Sequence[Mapping[str, str]],
        params: GenerationParams,
        warn: Warn | None = None,
        read_timeout_s: float | None = None,
    ) -> Iterator[str]:
        """The reply, piece by piece. Retries happen before the first piece; a failure
        after it raises `GenerationError`. `warn` hears of a prompt that does not fit the
        model's context and of an answer cut at max_tokens."""
        import httpx
        import ollama

        say = warn or logger.warning
        num_ctx = self._size_context(messages, params, say)
        options = ollama_options(params, num_ctx)

        def first() -> tuple[Iterator[Any], Any]:
            pieces = self._client(read_timeout_s).chat(
                model=self.config.model,
                messages=[dict(m) for m in messages],
                stream=True,
                options=options,
                keep_alive=self.config.keep_alive,
            )
            return pieces, next(pieces, None)

        pieces, part = self._call(first)
        try:
            while part is not None:
                if part.message and part.message.content:
                    yield part.message.content
                if part.done and part.done_reason == "length":
                    say(
                        f"the answer was cut at max_tokens ({params.max_tokens}); raise "
                        "generator.params.max_tokens for longer answers"
                    )
                part = next(pieces, None)
        except (ollama.ResponseError, httpx.HTTPError, ConnectionError) as exc:
            raise GenerationError(f"Ollama stopped mid-answer: {exc}") from exc

    def _size_context(
        self, messages: Sequence[Mapping[str, str]], params: GenerationParams, warn: Warn
    ) -> int:
        prompt = prompt_tokens(self._counter, [dict(m) for m in messages])
        reply = params.max_tokens or REPLY_ALLOWANCE
        limit = self._model_context()
        if limit and prompt + reply > limit:
            warn(
                f"the prompt (~{prompt} tokens) plus the answer ({reply} tokens) does not fit "
                f"{self.config.model}'s context of {limit} tokens; Ollama will drop the "
                "start of the prompt. Lower retrieval.top_k, compression.budget_tokens or "
                "generator.context_window"
            )
        return num_ctx_for(prompt + reply, limit)

    def create(
        self,
        name: str,
        gguf: Path,
        *,
        system: str | None = None,
        template: str | None = None,
        parameters: Mapping[str, Any] | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        """Upload `gguf` as a blob and register it as model `name` (Ollama's `/api/create`
        with `files`), with an optional system prompt, template and parameters.

        Raises:
            GenerationError: Ollama refused the file or the model.
            ModelUnreachableError: Ollama did not answer.
        """
        say = progress or logger.info
        say(f"uploading {gguf.name} ({gguf.stat().st_size / 1e6:.1f} MB) to {self._host}")
        digest = self._call(lambda: self._client().create_blob(gguf))

        def register() -> list[str]:
            statuses = []
            for part in self._client().create(
                model=name,
                files={gguf.name: digest},
                system=system,
                template=template,
                parameters=dict(parameters) if parameters else None,
                stream=True,
            ):
                statuses.append(part.status or "")
                say(part.status or "")
            return statuses

        statuses = self._call(register, name)
        if not statuses or statuses[-1] != "success":
            raise GenerationError(
                f"Ollama did not confirm model {name!r} (last status: "
                f"{statuses[-1] if statuses else 'none'})"
            )
