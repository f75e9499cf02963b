"""Choosing an implementation by name from a closed registry (C4)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from rag.errors import ConfigError

__all__ = ["build"]

T = TypeVar("T")


def build(registry: Mapping[str, Callable[..., T]], key: str, name: str, *args: Any) -> T:
    """Call the factory registered as `name`, or fail listing the valid names.

    Raises:
        ConfigError: `name` is not registered.
    """
    try:
        factory = registry[name]
    except KeyError:
        raise ConfigError(
            f"{key} must be one of {sorted(registry)}. Currently, the {key} is {name!r}"
        ) from None
    return factory(*args)
