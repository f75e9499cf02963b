"""Checks and set-up for served fine-tuned models: is the configured model (or LoRA adapter)
really served, and registering a GGUF with Ollama from a Modelfile.

Example:
    >>> config = load_config()  # doctest: +SKIP
    >>> check = check_model(config, connect_backend(config)[0])  # doctest: +SKIP
    >>> check.found, [m.name for m in check.served]  # doctest: +SKIP
    >>> print(modelfile(Path("security.gguf"), parameters={"temperature": 0.2}), end="")
    FROM ./security.gguf
    PARAMETER temperature 0.2
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.config import GeneratorConfig, RagConfig, derive
from rag.errors import ConfigError
from rag.generate.base import ChatBackend, ServedModel

__all__ = [
    "OLLAMA_PARAMETERS",
    "ModelCheck",
    "check_model",
    "modelfile",
    "parse_parameters",
    "register_gguf",
]

# The Modelfile PARAMETER names Ollama accepts, and the type of each value.
OLLAMA_PARAMETERS: dict[str, type] = {
    "num_ctx": int,
    "num_predict": int,
    "temperature": float,
    "top_k": int,
    "top_p": float,
    "min_p": float,
    "repeat_penalty": float,
    "repeat_last_n": int,
    "presence_penalty": float,
    "frequency_penalty": float,
    "seed": int,
    "stop": str,
    "num_keep": int,
    "typical_p": float,
}


@dataclass(frozen=True, slots=True)
class ModelCheck:
    """What the server lists, and whether the configured model is among it."""

    backend: str
    where: str
    model: str
    served: tuple[ServedModel, ...]
    found: ServedModel | None
    close: tuple[str, ...]
    context_length: int | None = None
    context_window: int | None = None  # generator.context_window, as configured

    @property
    def window_warning(self) -> str | None:
        """What to fix when the configured window is larger than the model's context."""
        if (
            self.context_length
            and self.context_window
            and (self.context_window > self.context_length)
        ):
            return (
                f"generator.context_window ({self.context_window}) is larger than the "
                f"model's context ({self.context_length}); lower it"
            )
        return None


def _same(configured: str, served: str, backend: str) -> bool:
    if backend == "ollama" and ":" not in configured:
        return served == f"{configured}:latest" or served == configured
    return served == configured


def check_model(config: RagConfig, backend: ChatBackend | None) -> ModelCheck:
    """List the models `backend` serves and look for `generator.model` among them
    (Ollama's `name` means `name:latest`; a vLLM LoRA adapter is listed under its own name).

    Raises:
        ConfigError: No backend is configured.
        ModelUnreachableError: The server did not answer.
    """
    generator = config.generator
    if backend is None:
        raise ConfigError(
            "generator.backend is none: nothing to check. Set generator.backend (openai or "
            "ollama), generator.base_url and generator.model, or pass --backend and --model"
        )
    served = tuple(backend.models())
    found = next((m for m in served if _same(generator.model, m.name, generator.backend)), None)
    close = tuple(difflib.get_close_matches(generator.model, [m.name for m in served], n=3))
    context = backend.context_length(found.name) if found is not None else None
    return ModelCheck(
        generator.backend,
        backend.name,
        generator.model,
        served,
        found,
        close,
        context,
        generator.context_window,
    )


def register_gguf(
    config: GeneratorConfig,
    gguf: Path,
    name: str,
    *,
    system: str | None = None,
    template: str | None = None,
    parameters: Mapping[str, Any] | None = None,
    progress: Callable[[str], None] | None = None,
    base_url: str | None = None,
) -> tuple[Path, str]:
    """Write `NAME.Modelfile` beside `gguf` and register the model with Ollama at
    `base_url` (else the configured Ollama, else the local default). Returns (the
    Modelfile, Ollama's URL).

    Raises:
        ConfigError: `gguf` does not exist.
        GenerationError: Ollama refused the model.
    """
    from rag.generate.ollama_backend import DEFAULT_HOST, OllamaBackend
    from rag.generate.tokens import EstimatedCounter

    gguf = gguf.expanduser().resolve()
    if not gguf.is_file():
        raise ConfigError(f"{gguf} does not exist; give the .gguf file")
    file = gguf.with_name(f"{gguf.stem}.Modelfile")
    text = modelfile(gguf, system=system, template=template, parameters=parameters)
    file.write_text(text, "utf-8")
    configured = config.base_url if config.backend == "ollama" else ""
    base_url = base_url or configured or DEFAULT_HOST
    ollama = derive(config, backend="ollama", base_url=base_url, model=name)
    backend = OllamaBackend(ollama, EstimatedCounter())
    backend.create(
        name, gguf, system=system, template=template, parameters=parameters, progress=progress
    )
    return file, base_url


def parse_parameters(pairs: Sequence[str]) -> dict[str, Any]:
    """`k=v` pairs as Ollama parameters, values typed; `stop` may repeat (a list).

    Raises:
        ConfigError: A pair is malformed, names no Ollama parameter, or has a bad value.
    """
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--param {pair!r}: write it as name=value, e.g. temperature=0.2")
        kind = OLLAMA_PARAMETERS.get(key)
        if kind is None:
            raise ConfigError(
                f"--param {key}: Ollama has no such parameter; use one of "
                f"{', '.join(sorted(OLLAMA_PARAMETERS))}"
            )
        try:
            value = kind(raw)
        except ValueError:
            raise ConfigError(f"--param {pair!r}: {key} takes a {kind.__name__}") from None
        if key == "stop":
            out.setdefault("stop", []).append(value)
        else:
            out[key] = value
    return out


def modelfile(
    gguf: Path,
    *,
    system: str | None = None,
    template: str | None = None,
    parameters: Mapping[str, Any] | None = None,
) -> str:
    """The Modelfile registering `gguf` (read from the Modelfile's folder), as
    `ollama create NAME -f Modelfile` reads it."""
    lines = [f"FROM ./{gguf.name}"]
    if template:
        lines.append(f'TEMPLATE """{template}"""')
    if system:
        lines.append(f'SYSTEM """{system}"""')
    for key, value in (parameters or {}).items():
        for one in value if isinstance(value, list) else [value]:
            lines.append(f"PARAMETER {key} {json.dumps(one) if isinstance(one, str) else one}")
    return "\n".join(lines) + "\n"
