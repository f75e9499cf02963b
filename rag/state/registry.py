"""What every `KbRegistry` does with its one primitive: `_change`, an atomic
read-modify-write of the stored manifest (a file under a lock, a row under `FOR UPDATE`)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable

from rag.errors import EmptyIndexError
from rag.manifest import Manifest

__all__ = ["ManifestRegistry"]


class ManifestRegistry(ABC):
    """The registry's changes over `_change`; `_where` names the place in messages."""

    _where: str

    @abstractmethod
    def read(self) -> Manifest | None:
        """The stored manifest; None before the first ingest."""

    @abstractmethod
    def _change(self, change: Callable[[Manifest | None], Manifest | None]) -> Manifest | None:
        """Apply `change` to the stored manifest atomically (no other change between its
        read and its write); store what it returns unless None or unchanged; return that."""

    def create(self, manifest: Manifest) -> Manifest:
        stored = self._change(lambda current: current or manifest)
        assert stored is not None  # change() returns `manifest` when there was none
        return stored

    def put_kb(self, name: str, description: str) -> Manifest:
        def add(current: Manifest | None) -> Manifest:
            if current is None:
                raise EmptyIndexError(
                    f"no index in {self._where} yet; ingest into it before adding a knowledge base"
                )
            return current.with_kb(name, description)

        stored = self._change(add)
        assert stored is not None
        return stored

    def drop_kb(self, name: str) -> bool:
        dropped: list[bool] = []

        def drop(current: Manifest | None) -> Manifest | None:
            dropped.append(current is not None and name in current.kbs)
            return current.without_kb(name) if current is not None else None

        self._change(drop)
        return dropped[0]

    def replace(self, manifest: Manifest) -> None:
        self._change(lambda current: manifest)
