"""A :class:`~engine.cache.store.Store` with Redis semantics over a shared backend.

Guarantees of :class:`RedisStore`:

- Keys are ``<prefix>:<cache key>``, i.e. ``<prefix>:v1:<namespace>:<key>``.
- Values are MessagePack with a type tag (:class:`~engine.shared.codec.EntryCodec`); no pickle.
- ``expires_at`` travels inside the value, so freshness follows the engine clock (virtual time
  in replays). The key's own TTL, ``expires_at - clock.wall() + gc_margin``, only bounds
  garbage collection.
- ``get_many`` is one ``MGET``.
- Whatever a key holds, reading it never raises because of the value: a value that does not
  decode into an entry of an allowed type (:class:`~engine.shared.codec.EntryCodec`: garbage,
  an unknown tag, a schema mismatch, a MessagePack extension, nesting too deep...) is a miss,
  counted (``corrupt``), and deleted; it is never served. Deleting it is best effort: a backend
  error then is counted in ``errors`` and does not fail the read.
- Backend errors of the read or write itself propagate (counted in ``errors``):
  :class:`engine.cache.Cache` degrades them to a miss, and :class:`engine.shared.TieredStore` to
  its memory tier. A corrupt value is not a backend error.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence
from typing import TypeVar

import msgspec

from engine.cache.store import Entry
from engine.clock import Clock
from engine.shared.backend import SharedBackend
from engine.shared.codec import CorruptValue, EntryCodec, TypeRegistry
from engine.shared.config import SharedTierConfig
from engine.shared.latency import Latency, LatencyStats

__all__ = ["RedisStore", "RedisStoreStats"]

T = TypeVar("T")


class RedisStoreStats(msgspec.Struct, frozen=True):
    hits: int
    """Keys found holding a valid entry (fresh or not: stores do not judge freshness)."""
    misses: int
    corrupt: int
    """Values that failed to decode (garbage, unknown type tag, schema mismatch): deleted."""
    errors: int
    """Backend calls that raised."""
    latency: LatencyStats


class RedisStore:
    """Cache entries in a :class:`~engine.shared.backend.SharedBackend`; see the module doc."""

    def __init__(
        self,
        backend: SharedBackend,
        *,
        clock: Clock,
        registry: TypeRegistry | None = None,
        config: SharedTierConfig | None = None,
    ) -> None:
        self.backend = backend
        self.config = config if config is not None else SharedTierConfig()
        self._clock = clock
        self._codec = EntryCodec(registry)
        self._prefix = self.config.prefix + ":"
        self._hits = 0
        self._misses = 0
        self._corrupt = 0
        self._latency = Latency()

    def key(self, cache_key: str) -> str:
        """The backend key of ``cache_key``."""
        return self._prefix + cache_key

    async def get(self, key: str) -> Entry | None:
        return (await self.get_many([key]))[0]

    async def get_many(self, keys: Sequence[str]) -> list[Entry | None]:
        full_keys = [self._prefix + key for key in keys]
        raw = await self._latency.timed(self.backend.get_many(full_keys), self._clock)
        found: list[Entry | None] = []
        corrupt: list[str] = []
        for full_key, data in zip(full_keys, raw, strict=True):
            if data is None:
                self._misses += 1
                found.append(None)
                continue
            try:
                found.append(self._codec.decode(data))
            except CorruptValue:
                self._corrupt += 1
                self._misses += 1
                corrupt.append(full_key)
                found.append(None)
                continue
            self._hits += 1
        if corrupt:
            # Best effort: the values were read; failing to delete the bad ones (counted in
            # `errors` by `timed`) must not turn the read into a backend failure.
            with contextlib.suppress(Exception):
                await self._latency.timed(self.backend.delete(corrupt), self._clock)
        return found

    async def set(self, key: str, entry: Entry) -> None:
        data = self._codec.encode(entry)
        ttl = entry.expires_at - self._clock.wall() + self.config.gc_margin
        ttl_ms = max(1, math.ceil(ttl * 1000))
        await self._latency.timed(
            self.backend.set(self._prefix + key, data, ttl_ms=ttl_ms), self._clock
        )

    async def delete(self, key: str) -> None:
        await self._latency.timed(self.backend.delete([self._prefix + key]), self._clock)

    async def delete_prefix(self, prefix: str) -> int:
        """Forget every cache key starting with ``prefix`` (``SCAN``/``DEL`` in batches on
        Redis: :meth:`~engine.shared.backend.SharedBackend.delete_prefix`); how many."""
        return await self._latency.timed(
            self.backend.delete_prefix(self._prefix + prefix), self._clock
        )

    def stats(self) -> RedisStoreStats:
        return RedisStoreStats(
            hits=self._hits,
            misses=self._misses,
            corrupt=self._corrupt,
            errors=self._latency.errors,
            latency=self._latency.stats(),
        )

    def __repr__(self) -> str:
        return f"RedisStore({self.backend!r}, prefix={self.config.prefix!r})"
