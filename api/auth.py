"""API keys: hashed when loaded, compared in constant time, scoped per knowledge base and
per action.

A key arrives as `Authorization: Bearer KEY` or `X-API-Key: KEY`. Roles are ordered:
`read` (ask, search, list) < `write` (add and delete documents) < `admin` (create and
delete knowledge bases); a key's `kbs` are the knowledge bases it reaches (`*`: all).

Example:
    >>> ring = KeyRing.from_config([ApiKey(key=SecretStr("s3cret"), kbs=["hr"], role="read")])
    >>> ring.authenticate("s3cret").allows("hr", "read")
    True
    >>> ring.authenticate("s3cret").allows("it", "read")
    False
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import SecretStr

from rag.config import ApiKey

__all__ = ["ROLES", "KeyRing", "Principal", "Role", "presented_key"]

Role = Literal["read", "write", "admin"]
ROLES: tuple[Role, ...] = ("read", "write", "admin")


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking: the knowledge bases they reach (None: all) and their role."""

    kbs: frozenset[str] | None
    role: Role
    name: str = "key"

    def allows(self, kb: str | None, role: Role) -> bool:
        """Whether this principal may do `role`'s actions on `kb` (None: no particular one,
        e.g. listing knowledge bases, which then shows only the reachable ones)."""
        if ROLES.index(self.role) < ROLES.index(role):
            return False
        return kb is None or self.kbs is None or kb in self.kbs

    def reaches(self, kb: str) -> bool:
        return self.kbs is None or kb in self.kbs


ANONYMOUS = Principal(None, "admin", "anonymous")


class KeyRing:
    """The configured keys, kept as SHA-256 digests only."""

    def __init__(self, entries: Sequence[tuple[bytes, Principal]]) -> None:
        self._entries = list(entries)

    @classmethod
    def from_config(cls, keys: Sequence[SecretStr | ApiKey]) -> KeyRing:
        entries = []
        for number, key in enumerate(keys, 1):
            spec = key if isinstance(key, ApiKey) else ApiKey(key=key)
            secret = spec.key.get_secret_value()
            if not secret:
                continue
            kbs = None if "*" in spec.kbs else frozenset(spec.kbs)
            entries.append((_digest(secret), Principal(kbs, spec.role, f"key {number}")))
        return cls(entries)

    @property
    def enabled(self) -> bool:
        """Whether any key is configured (else every request is let in)."""
        return bool(self._entries)

    def authenticate(self, presented: str | None) -> Principal | None:
        """The principal of the presented key, None when it matches none. Every stored
        digest is compared, in constant time, whatever matches."""
        if not self._entries:
            return ANONYMOUS
        if not presented:
            return None
        digest = _digest(presented)
        found = None
        for stored, principal in self._entries:
            if hmac.compare_digest(stored, digest):
                found = principal
        return found


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


def presented_key(headers: Mapping[str, str]) -> str | None:
    """The key in `Authorization: Bearer` or `X-API-Key`, if any."""
    auth = headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return headers.get("x-api-key") or None
