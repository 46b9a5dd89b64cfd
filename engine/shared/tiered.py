"""Two tiers: the in-memory LRU in front of a shared store, degrading to memory alone.

Guarantees of :class:`TieredStore`:

- ``get`` answers from memory when memory holds a fresh entry (``entry.fresh(clock.wall())``);
  otherwise it asks the shared tier, and an entry found there fills memory with its own
  ``expires_at``. (Choosing the tier is the only freshness check made here; the entry returned
  is still judged by the cache facade.) ``get_many`` asks the shared tier once for all the keys
  memory could not answer.
- ``set`` writes memory, then the shared tier; ``delete`` deletes from both, and so does
  ``delete_prefix`` (where the shared store has one), which answers the shared tier's count (the
  one every instance sees), or ``None`` if the shared tier was skipped or failed (the memory
  tier is cleared whatever happens). Other instances' memory tiers keep their copies until
  those expire.
- The shared tier cannot fail a call: an error is a miss (or a skipped write), counted, and
  logged as a warning at most once per ``warn_interval``. A value the shared tier cannot decode
  is no error: :class:`~engine.shared.RedisStore` answers it as a miss (and deletes it), so a
  bad value never takes the tier offline. After an error the shared tier is left
  alone for ``retry_after`` seconds (calls meanwhile are counted as ``fallbacks``), then one
  call probes it (the others keep to memory until it answers): the tier recovers by itself
  when the backend returns. This is the engine's circuit breaker
  (:class:`engine.breaker.Circuit`), opened by any failure, with a cool-down of
  ``retry_after`` and one probe.
- It reports the memory tier's usage, so the facade's sizes and evictions stay meaningful.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import msgspec

from engine.breaker import BreakerConfig, Circuit
from engine.cache.memory import MemoryStore
from engine.cache.store import DeletesPrefix, Entry, NamespaceUsage, Store
from engine.clock import Clock
from engine.shared.config import SharedTierConfig
from engine.throttled_log import ThrottledWarning

__all__ = ["TieredStore", "TieredStoreStats"]

T = TypeVar("T")

_LOG = logging.getLogger("engine.shared")


class TieredStoreStats(msgspec.Struct, frozen=True):
    memory_hits: int
    """Lookups answered by a fresh entry in memory."""
    shared_hits: int
    """Lookups answered by the shared tier (and copied into memory)."""
    shared_misses: int
    shared_errors: int
    """Shared-tier calls that raised (each degraded to a miss or a skipped write)."""
    fallbacks: int
    """Shared-tier calls skipped because the tier failed less than ``retry_after`` ago."""
    shared_available: bool
    """False while the shared tier is being left alone after a failure, and while one call
    probes it (the others, reads and writes alike, keep to memory until it answers)."""


class TieredStore:
    """:class:`MemoryStore` in front of a shared :class:`Store`; see the module docstring."""

    def __init__(
        self,
        memory: MemoryStore,
        shared: Store,
        *,
        clock: Clock,
        config: SharedTierConfig | None = None,
        log: logging.Logger = _LOG,
    ) -> None:
        self.memory = memory
        self.shared = shared
        self.config = config if config is not None else SharedTierConfig()
        self._clock = clock
        self._warn = ThrottledWarning(log, clock=clock, interval=self.config.warn_interval)
        # Any failure opens it for retry_after seconds; then one call probes the tier.
        self._circuit = Circuit(
            BreakerConfig(
                failure_rate=0,
                min_calls=1,
                window=self.config.retry_after,
                cooldown=self.config.retry_after,
                probes=1,
            )
        )
        self._memory_hits = 0
        self._shared_hits = 0
        self._shared_misses = 0
        self._shared_errors = 0
        self._fallbacks = 0

    async def get(self, key: str) -> Entry | None:
        entry = await self.memory.get(key)
        if entry is not None and entry.fresh(self._clock.wall()):
            self._memory_hits += 1
            return entry
        found = await self._shared("get", key, lambda: self.shared.get(key), None)
        if found is None:
            self._shared_misses += 1
            return entry
        self._shared_hits += 1
        await self.memory.set(key, found)
        return found

    async def get_many(self, keys: Sequence[str]) -> list[Entry | None]:
        entries = await self.memory.get_many(keys)
        now = self._clock.wall()
        wanted = [i for i, entry in enumerate(entries) if entry is None or not entry.fresh(now)]
        self._memory_hits += len(keys) - len(wanted)
        if not wanted:
            return entries
        wanted_keys = [keys[i] for i in wanted]
        found = await self._shared(
            "get_many",
            f"{len(wanted)} keys",
            lambda: self.shared.get_many(wanted_keys),
            [None] * len(wanted),
        )
        for i, key, entry in zip(wanted, wanted_keys, found, strict=True):
            if entry is None:
                self._shared_misses += 1
                continue
            self._shared_hits += 1
            await self.memory.set(key, entry)
            entries[i] = entry
        return entries

    async def set(self, key: str, entry: Entry) -> None:
        await self.memory.set(key, entry)
        await self._shared("set", key, lambda: self.shared.set(key, entry), None)

    async def delete(self, key: str) -> None:
        await self.memory.delete(key)
        await self._shared("delete", key, lambda: self.shared.delete(key), None)

    async def delete_prefix(self, prefix: str) -> int | None:
        await self.memory.delete_prefix(prefix)
        shared = self.shared
        if not isinstance(shared, DeletesPrefix):
            return None
        return await self._shared(
            "delete_prefix", prefix + "*", lambda: shared.delete_prefix(prefix), None
        )

    async def _shared(
        self, operation: str, what: str, call: Callable[[], Awaitable[T]], fallback: T
    ) -> T:
        circuit = self._circuit
        permit = circuit.acquire(self._clock.monotonic())
        if permit is None:
            self._fallbacks += 1
            return fallback
        try:
            result = await call()
        except Exception as exc:
            circuit.record(permit, self._clock.monotonic(), failed=True)
            self._failed(operation, what, exc)
            return fallback
        except BaseException:
            circuit.release(permit, self._clock.monotonic())  # cancelled: no outcome
            raise
        circuit.record(permit, self._clock.monotonic(), failed=False)
        return result

    def _failed(self, operation: str, what: str, exc: Exception) -> None:
        self._shared_errors += 1
        self._warn(
            "shared cache tier %s failed for %s, using memory only for %.3g s: %r "
            "(%d shared-tier errors so far)",
            operation,
            what,
            self.config.retry_after,
            exc,
            self._shared_errors,
        )

    def usage(self) -> dict[str, NamespaceUsage]:
        """The memory tier's usage."""
        return self.memory.usage()

    def stats(self) -> TieredStoreStats:
        return TieredStoreStats(
            memory_hits=self._memory_hits,
            shared_hits=self._shared_hits,
            shared_misses=self._shared_misses,
            shared_errors=self._shared_errors,
            fallbacks=self._fallbacks,
            shared_available=self._circuit.state_at(self._clock.monotonic()) == "closed",
        )

    def __repr__(self) -> str:
        try:
            now: float | None = self._clock.monotonic()
        except Exception:  # no running event loop: the clock cannot be read
            now = None
        state = self._circuit.state if now is None else self._circuit.state_at(now)
        shared = {"closed": "up", "open": "left alone", "half_open": "to be probed"}[state]
        if state == "open" and now is not None and self._circuit.changed_at is not None:
            left = self._circuit.changed_at + self.config.retry_after - now
            shared = f"left alone for {left:.3f} s"
        return (
            f"<TieredStore [{self.memory!r} in front of {self.shared!r} | shared tier: {shared} | "
            f"memory hits: {self._memory_hits}, shared hits: {self._shared_hits}, "
            f"shared misses: {self._shared_misses}, shared errors: {self._shared_errors}, "
            f"fallbacks: {self._fallbacks}]>"
        )
