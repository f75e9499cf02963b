"""Choosing an implementation by name from a closed registry (C4)."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from rag.errors import ConfigError

__all__ = ["build", "check"]

T = TypeVar("T")


def build(registry: Mapping[str, Callable[..., T]], key: str, name: str, *args: Any) -> T:
    """Call the factory registered as `name`, or fail listing the valid names.

    Raises:
        ConfigError: `name` is not registered.
    """
    check(registry, key, name)
    return registry[name](*args)


def check(registry: Mapping[str, object], key: str, name: str) -> None:
    """Fail, listing the valid names, unless `name` is registered.

    Raises:
        ConfigError: `name` is not registered.
    """
    if name not in registry:
        close = difflib.get_close_matches(name, list(registry), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(
            f"{key} must be one of {sorted(registry)}. Currently, the {key} is {name!r}{hint}"
        )
