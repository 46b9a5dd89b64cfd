"""Cross-instance deduplication: one instance fetches a missed key, the others wait for it.

:class:`DistributedFlight` is a :class:`~engine.singleflight.SingleFlight` (pass it to
``Engine(flights=...)``). Local callers share one execution as before; for the cache's flights
(keys ``("cache", <cache key>)``) that execution first takes a short lock in the shared backend
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

Other keys (``Engine.deduplicated``) are deduplicated locally only.
"""

from __future__ import annotations

import math
import os
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, TypeVar

import anyio

from engine.cache.store import MISSING, Store
from engine.clock import Clock
from engine.exception_groups import single_error
from engine.shared.backend import SharedBackend
from engine.shared.config import SharedTierConfig
from engine.singleflight import SingleFlight, SingleFlightStats

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
        self._lock_ttl_ms = math.ceil(self.settings.lock_ttl * 1000)
        self._locked = 0
        self._answered_remotely = 0
        self._errors = 0

    async def do(self, key: Hashable, fn: Callable[[], Awaitable[T]]) -> T:
        if isinstance(key, tuple) and len(key) == 2 and key[0] == "cache":
            cache_key = str(key[1])
            return await super().do(key, lambda: self._across_instances(cache_key, fn))
        return await super().do(key, fn)

    async def _across_instances(self, cache_key: str, fn: Callable[[], Awaitable[T]]) -> T:
        lock = self._lock_prefix + cache_key
        token = os.urandom(16).hex().encode()
        while True:
            try:
                locked = await self.backend.set_if_absent(lock, token, ttl_ms=self._lock_ttl_ms)
            except Exception:
                self._errors += 1
                return await fn()
            if locked:
                try:
                    # Another instance may have stored the entry and unlocked between our
                    # cache miss and our lock: look once more before fetching.
                    found = await self._fresh(cache_key)
                    if found is not None:
                        self._answered_remotely += 1
                        return found[0]  # type: ignore[no-any-return]
                    self._locked += 1
                    return await self._holding(lock, token, fn)
                finally:
                    await self._release(lock, token)
            found = await self._wait_for_holder(lock, cache_key)
            if found is not None:
                self._answered_remotely += 1
                return found[0]  # type: ignore[no-any-return]

    async def _holding(self, lock: str, token: bytes, fn: Callable[[], Awaitable[T]]) -> T:
        """``await fn()`` while keeping the lock alive: a fetch can wait in the rate limiter's
        queue far longer than ``lock_ttl``, and a lapsed lock would let another instance fetch
        the same key. If this process dies, the renewals stop and the lock lapses."""
        with single_error():
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._keep_alive, lock, token)
                try:
                    return await fn()
                finally:
                    tg.cancel_scope.cancel()

    async def _keep_alive(self, lock: str, token: bytes) -> None:
        """Renew the lock every third of its TTL until cancelled."""
        while True:
            await anyio.sleep(self.settings.lock_ttl / 3)
            try:
                await self.backend.extend_if_equal(lock, token, ttl_ms=self._lock_ttl_ms)
            except Exception:
                self._errors += 1  # the next renewal may succeed; the fetch goes on regardless

    async def _wait_for_holder(self, lock: str, cache_key: str) -> tuple[Any] | None:
        """Poll until another instance's entry appears, ``(value,)``, or the lock is gone,
        ``None``. The lock is read before the entry: a holder stores, then unlocks."""
        while True:
            await anyio.sleep(self.settings.poll_interval)
            try:
                (held,) = await self.backend.get_many([lock])
            except Exception:
                self._errors += 1
                held = None
            found = await self._fresh(cache_key)
            if found is not None or held is None:
                return found

    async def _fresh(self, cache_key: str) -> tuple[Any] | None:
        """``(value,)`` when the store holds a fresh entry for ``cache_key``, else ``None``."""
        try:
            entry = await self.store.get(cache_key)
        except Exception:
            self._errors += 1
            return None
        if entry is not None and self._clock.wall() < entry.expires_at:
            return (MISSING if entry.missing else entry.value,)
        return None

    async def _release(self, lock: str, token: bytes) -> None:
        with anyio.CancelScope(shield=True), anyio.move_on_after(self.settings.poll_interval * 20):
            try:
                await self.backend.delete_if_equal(lock, token)
            except Exception:
                self._errors += 1  # the lock expires by itself

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
