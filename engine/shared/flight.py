"""Cross-instance deduplication: one instance fetches a missed key, the others wait for it.

:class:`DistributedFlight` is a :class:`~engine.singleflight.SingleFlight` (pass it to
``Engine(flights=...)``). Local callers share one execution as before; for the cache's flights
(keys :class:`~engine.singleflight.CacheFlightKey`) that execution first takes a short lock in
the shared backend, a :class:`~engine.shared.lease.Lease`
(``SET <prefix>:lock:<cache key> <token> NX PX lock_ttl``):

- the instance that gets the lock runs the fetch (which stores its result in the shared store),
  then releases the lock (only if it still holds its own token);
- the others poll: every ``poll_interval`` they look at the lock, then at the store; a fresh
  entry is their answer (no upstream call). When the lock is gone without an entry (the holder
  failed, or its result is not cached) they try to take the lock themselves.
- The holder renews its lock every third of ``lock_ttl`` while it fetches (a fetch may wait in
  the rate limiter's queue for minutes), and re-reads the store right after locking, in case
  another instance stored the entry and unlocked in between.
- No deadlock: a holder that dies stops renewing, its lock expires after ``lock_ttl`` (real
  time in Redis, the engine clock in the twin), and the waiters fetch then.
- A backend error never fails a call: the instance fetches by itself (counted in ``errors``).
- A refresh ahead of an expiry (:data:`~engine.singleflight.REFRESHING`) is answered only by
  an entry newer than the one it replaces: one instance refreshes a hot key for all, and the
  others' refreshes of it find the new entry.

Other keys (``Engine.deduplicated``) are deduplicated locally only. For batched lookups,
:meth:`DistributedFlight.key_claims` gives the :class:`~engine.shared.claims.KeyClaims` that
share the same backend.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable
from typing import Any, TypeVar

import anyio

from engine.cache.store import MISSING, Store
from engine.clock import Clock
from engine.shared.backend import SharedBackend
from engine.shared.claims import KeyClaims
from engine.shared.config import SharedTierConfig
from engine.shared.lease import Lease
from engine.shared.tiered import TieredStore
from engine.singleflight import REFRESHING, CacheFlightKey, SingleFlight, SingleFlightStats

__all__ = ["DistributedFlight", "DistributedFlightStats"]

T = TypeVar("T")


class DistributedFlightStats(SingleFlightStats, frozen=True):
    locked: int
    """Cache misses this instance fetched holding the cross-instance lock."""
    answered_remotely: int
    """Cache misses answered by an entry another instance fetched (no upstream call here)."""
    errors: int
    """Backend calls that raised (the instance then fetched by itself)."""


class DistributedFlight(SingleFlight):
    """A SingleFlight that also deduplicates cache misses across instances; see the module."""

    def __init__(
        self,
        backend: SharedBackend,
        store: Store,
        *,
        clock: Clock,
        settings: SharedTierConfig | None = None,
    ) -> None:
        super().__init__()
        self.backend = backend
        self.store = store
        self.settings = settings if settings is not None else SharedTierConfig()
        self._clock = clock
        self._lock_prefix = f"{self.settings.prefix}:lock:"
        self._leases: set[Lease] = set()  # one per cache miss coordinating now
        self._locked = 0
        self._answered_remotely = 0
        self._errors = 0

    async def do(self, key: Hashable, fn: Callable[[], Awaitable[T]]) -> T:
        if isinstance(key, CacheFlightKey):
            cache_key = key.key
            return await super().do(key, lambda: self._across_instances(cache_key, fn))
        return await super().do(key, fn)

    def key_claims(self, name: str) -> KeyClaims:
        """Per-key claims in this flight's backend, for the batched lookups named ``name``."""
        return KeyClaims(self.backend, name, clock=self._clock, settings=self.settings)

    async def _across_instances(self, cache_key: str, fn: Callable[[], Awaitable[T]]) -> T:
        lock = self._lock_prefix + cache_key
        # Read once, then cleared: the fetch, and any lookup it makes, is no refresh.
        replaces = REFRESHING.get()
        token = REFRESHING.set(None)
        # The lease renews the lock while the fetch runs (a fetch can wait in the rate
        # limiter's queue far longer than ``lock_ttl``) and releases it when the block ends.
        lease = Lease.for_tier(self.backend, self.settings, on_error=self._count_error)
        self._leases.add(lease)
        try:
            async with lease:
                return await self._locking(lease, lock, cache_key, fn, replaces)
        finally:
            self._leases.discard(lease)
            REFRESHING.reset(token)

    async def _locking(
        self,
        lease: Lease,
        lock: str,
        cache_key: str,
        fn: Callable[[], Awaitable[T]],
        replaces: float | None,
    ) -> T:
        """Take the lock and fetch, or wait for the holder's entry; again if it left none."""
        while True:
            try:
                locked = await lease.take(lock)
            except Exception:
                self._errors += 1
                return await fn()
            if locked:
                # Another instance may have stored the entry and unlocked between our
                # cache miss and our lock: look once more before fetching.
                found = await self._fresh(cache_key, replaces)
                if found is not None:
                    self._answered_remotely += 1
                    return found[0]  # type: ignore[no-any-return]
                self._locked += 1
                return await lease.run(fn)
            found = await self._wait_for_holder(lock, cache_key, replaces)
            if found is not None:
                self._answered_remotely += 1
                return found[0]  # type: ignore[no-any-return]

    def _count_error(self) -> None:
        self._errors += 1

    async def _wait_for_holder(
        self, lock: str, cache_key: str, replaces: float | None
    ) -> tuple[Any] | None:
        """Poll until another instance's entry appears, ``(value,)``, or the lock is gone,
        ``None``. The lock is read before the entry: a holder stores, then unlocks."""
        while True:
            await anyio.sleep(self.settings.poll_interval)
            try:
                (held,) = await self.backend.get_many([lock])
            except Exception:
                self._errors += 1
                held = None
            found = await self._fresh(cache_key, replaces)
            if found is not None or held is None:
                return found

    async def _fresh(self, cache_key: str, replaces: float | None) -> tuple[Any] | None:
        """``(value,)`` when the store holds a fresh entry for ``cache_key``, else ``None``.

        For a refresh ahead (``replaces``: the expiry of the entry it replaces) only a newer
        entry is an answer, and it is read from the shared tier: a tiered store's memory holds
        the very entry being refreshed. One found there is copied into memory, so that this
        instance serves it from now on."""
        store = self.store
        tiered = store if replaces is not None and isinstance(store, TieredStore) else None
        try:
            entry = await (tiered.shared if tiered is not None else store).get(cache_key)
        except Exception:
            self._errors += 1
            return None
        if entry is None or not entry.fresh(self._clock.wall()):
            return None
        if replaces is not None:
            if entry.expires_at <= replaces:
                return None  # the very entry being refreshed: not an answer
            if tiered is not None:
                await tiered.memory.set(cache_key, entry)
        return (MISSING if entry.missing else entry.value,)

    def stats(self) -> DistributedFlightStats:
        local = super().stats()
        return DistributedFlightStats(
            calls=local.calls,
            executions=local.executions,
            shared=local.shared,
            abandoned=local.abandoned,
            in_flight=local.in_flight,
            locked=self._locked,
            answered_remotely=self._answered_remotely,
            errors=self._errors,
        )

    def __repr__(self) -> str:
        state = "open" if self._tasks.is_open else "closed"
        held = sum(len(lease.held) for lease in self._leases)
        return (
            f"<DistributedFlight [{state} | in flight: {len(self._flights)} | "
            f"coordinating: {len(self._leases)}, locks held: {held} | "
            f"locked: {self._locked}, answered remotely: {self._answered_remotely}, "
            f"errors: {self._errors}]>"
        )
