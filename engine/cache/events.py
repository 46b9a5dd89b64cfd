"""What a cache did, for those who audit it: hits, misses, stores and evictions, with their
instants."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import msgspec

__all__ = ["CacheEvent", "CacheObserver"]


class CacheEvent(msgspec.Struct, frozen=True, array_like=True, gc=False):
    at: float
    """Wall-clock time of the event (the engine clock's ``wall()``)."""
    kind: Literal["hit", "miss", "store", "evict"]
    """``hit``: a lookup served a fresh entry; ``miss``: a counted lookup found nothing fresh
    (lookups that do not count, ``lookup_many(..., count=False)``, report no miss); ``store``:
    an entry was written; ``evict``: the store dropped an entry still fresh to make room."""
    key: str
    """The full cache key (``v1:<namespace>:<key>``)."""
    expires_at: float
    """The entry's expiry: the one served (hit), written (store) or dropped (evict); for a
    miss, the stale entry's expiry, or 0.0 when there was no entry."""


CacheObserver = Callable[[CacheEvent], None]
