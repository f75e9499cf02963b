"""Per-command and per-request overrides of the configuration, validated.

The CLI's flags and the service's request fields name the same settings; both go through
`derive`, so a bad value (`top_k` 0, a negative temperature, an unknown backend) is refused
with the setting's name instead of being used.

Example:
    >>> config = with_generation(RagConfig(), temperature=0.7, max_tokens=256)
    >>> config.generator.params.temperature
    0.7
"""

from __future__ import annotations

from typing import Any

from rag.config import RagConfig, derive
from rag.errors import ConfigError

__all__ = ["GENERATION_PARAMS", "with_generation", "with_top_k"]

# Sampling parameters a command or request may set (GenerationParams' fields).
GENERATION_PARAMS = (
    "temperature",
    "top_p",
    "top_k",
    "repetition_penalty",
    "max_tokens",
    "stop",
    "seed",
    "presence_penalty",
    "frequency_penalty",
)


def with_generation(
    config: RagConfig,
    *,
    backend: str | None = None,
    model: str | None = None,
    base_url: str | None = None,
    synthesis: str | None = None,
    no_llm: bool = False,
    **params: Any,
) -> RagConfig:
    """`config` with the given generator settings and sampling parameters (None: unchanged).

    Names (backend, synthesis) are checked where they are built (`rag.runtime`).

    Raises:
        ConfigError: A value is invalid, or a parameter is not a sampling parameter.
    """
    unknown = sorted(set(params) - set(GENERATION_PARAMS))
    if unknown:
        raise ConfigError(f"unknown generation parameter(s) {unknown}; use {GENERATION_PARAMS}")
    update: dict[str, Any] = {
        k: v
        for k, v in (("backend", backend), ("model", model), ("base_url", base_url))
        if v is not None
    }
    if no_llm:
        update["backend"] = "none"
    if synthesis is not None:
        update["synthesis"] = synthesis
    sampling = {k: v for k, v in params.items() if v is not None}
    if sampling:
        update["params"] = sampling
    if not update:
        return config
    return derive(config, generator=derive(config.generator, **update))


def with_top_k(config: RagConfig, top_k: int | None) -> RagConfig:
    """`config` answering from `top_k` chunks (None: unchanged).

    Raises:
        ConfigError: `top_k` is not positive.
    """
    if top_k is None:
        return config
    return derive(config, retrieval={"top_k": top_k})
