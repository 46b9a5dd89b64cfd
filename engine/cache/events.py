"""What a cache did, for those who audit it: hits, stores and evictions, with their instants."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import msgspec

__all__ = ["CacheEvent", "CacheObserver"]


class CacheEvent(msgspec.Struct, frozen=True, array_like=True, gc=False):
    at: float
    """Wall-clock time of the event (the engine clock's ``wall()``)."""
    kind: Literal["hit", "store", "evict"]
    key: str
    """The full cache key (``v1:<namespace>:<key>``)."""
    expires_at: float
    """The entry's expiry: the one served (hit), written (store) or dropped (evict)."""


CacheObserver = Callable[[CacheEvent], None]
