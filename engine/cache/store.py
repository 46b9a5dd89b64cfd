"""What a cache store holds and the interface every store offers.

A store holds :class:`Entry` values under string keys and does not judge freshness: ``get``
returns whatever it holds, expired or not. Freshness is decided by the facade
(:class:`engine.cache.Cache`) against ``clock.wall()``, because an entry's ``expires_at`` is
wall-clock (epoch) time: in a virtual-time replay only the injected clock knows what time it is.
(A Redis store's own key TTLs run on real time and only bound its garbage collection.)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final, Protocol, final, runtime_checkable

import msgspec

__all__ = [
    "MISSING",
    "DeletesPrefix",
    "Entry",
    "Missing",
    "NamespaceUsage",
    "ReportsUsage",
    "Store",
]


@final
class Missing:
    """The type of :data:`MISSING`: "the upstream does not know this key"."""

    __slots__ = ()
    _instance: Missing | None = None

    def __new__(cls) -> Missing:
        if cls._instance is None:
            cls._instance = object.__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False

    def __reduce__(self) -> str:
        return "MISSING"


#: Returned by a fetch to say the upstream does not know the key, and by the cache for a
#: fresh negative ("known missing") entry. Compare with ``is``.
MISSING: Final = Missing()


class Entry(msgspec.Struct, frozen=True):
    """One cached value and when it stops being fresh."""

    value: Any
    """The cached value (``None`` in a negative entry)."""
    expires_at: float
    """Wall-clock epoch seconds at which the entry stops being fresh (fresh while ``now <``)."""
    missing: bool = False
    """A negative entry: the upstream said it does not know the key."""

    def fresh(self, now: float) -> bool:
        """Whether the entry is fresh at wall-clock ``now``: the one freshness rule of every
        tier (fresh strictly before ``expires_at``, stale from that instant on)."""
        return now < self.expires_at


@runtime_checkable
class Store(Protocol):
    """Where cache entries live. Any method may raise; the facade degrades to a miss."""

    async def get(self, key: str) -> Entry | None:
        """The entry held for ``key``, fresh or not, or ``None``."""
        ...

    async def get_many(self, keys: Sequence[str]) -> list[Entry | None]:
        """``get`` for each key, in order, in one round trip."""
        ...

    async def set(self, key: str, entry: Entry) -> None:
        """Hold ``entry`` under ``key``, replacing what was there."""
        ...

    async def delete(self, key: str) -> None:
        """Forget ``key`` (no error if absent)."""
        ...


class NamespaceUsage(msgspec.Struct, frozen=True):
    """What a store knows about one namespace."""

    size: int
    """Entries held now."""
    evictions: int
    """Entries dropped to make room (capacity reached)."""
    expired: int = 0
    """Expired entries the store dropped by itself (opportunistic purge)."""


@runtime_checkable
class ReportsUsage(Protocol):
    """A store that counts its entries per namespace (the in-memory store does)."""

    def usage(self) -> dict[str, NamespaceUsage]: ...


@runtime_checkable
class DeletesPrefix(Protocol):
    """A store that can drop every key starting with a prefix (what
    :meth:`engine.cache.Cache.clear` needs; the memory, tiered and Redis stores can)."""

    async def delete_prefix(self, prefix: str) -> int | None:
        """Forget every key starting with ``prefix``; how many were held (``None`` where the
        store cannot count)."""
        ...
