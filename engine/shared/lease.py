"""A lease on keys of a shared backend, renewed while its holder works.

:class:`DistributedFlight` (one lock per missed cache key) and :class:`KeyClaims` (one claim
per looked-up ID) both hold keys this way. Guarantees of :class:`Lease`:

- :meth:`~Lease.take` is ``SET key token NX PX ttl``: while a key lives, one lease holds it.
  The token is the lease's own (random), so no other lease, of this process or another, can
  renew or release it.
- :meth:`~Lease.run` awaits the holder's work while a task in the lease's own task group renews
  every held key every third of ``ttl`` (``PEXPIRE`` only if the key still holds the token):
  work that outlasts ``ttl`` (a fetch queued in the rate limiter for minutes) keeps its keys.
  The renewals stop when the work returns, raises or is cancelled.
- A key found no longer holding the token at a renewal is lost (it expired, and maybe another
  holder took it): it is not renewed again, nor released.
- Leaving the ``async with`` block, whatever the way out (a return, an error, a cancellation),
  releases every key still held, each only if it still holds the token (``DEL`` if equal,
  atomically), shielded from cancellation and bounded by ``release_within`` seconds.
- A dead holder renews nothing: its keys expire ``ttl`` after their last renewal.
- A backend error never escapes a renewal or a release: it is counted (``errors``, and
  ``on_error`` if given) and the key expires by itself. :meth:`take` lets its error through:
  the caller decides whether to go on without the key.
"""

from __future__ import annotations

import math
import os
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Self, TypeVar

import anyio

from engine.exception_groups import single_error
from engine.shared.backend import SharedBackend
from engine.shared.config import SharedTierConfig

__all__ = ["Lease"]

T = TypeVar("T")


class Lease:
    """Keys held under one random token, renewed during :meth:`run`; see the module."""

    def __init__(
        self,
        backend: SharedBackend,
        *,
        ttl: float,
        release_within: float | None = None,
        on_error: Callable[[], None] | None = None,
    ) -> None:
        self.backend = backend
        self.ttl = ttl
        self.release_within = release_within
        self.token = os.urandom(16).hex().encode()
        self._ttl_ms = math.ceil(ttl * 1000)
        self._on_error = on_error
        self._held: list[str] = []
        self._renewing = False
        self.renewals = 0
        """Renewals that kept a key."""
        self.lost = 0
        """Keys found taken from this lease at a renewal (not renewed nor released since)."""
        self.released = 0
        """Keys released at the end of the block (a key that expired meanwhile not counted)."""
        self.errors = 0
        """Backend calls of renewals and releases that raised."""

    @classmethod
    def for_tier(
        cls,
        backend: SharedBackend,
        settings: SharedTierConfig,
        *,
        on_error: Callable[[], None] | None = None,
    ) -> Lease:
        """A lease with the shared tier's settings: ``lock_ttl``, and releases bounded by
        twenty ``poll_interval`` s (what the flight and the key claims both use)."""
        return cls(
            backend,
            ttl=settings.lock_ttl,
            release_within=settings.poll_interval * 20,
            on_error=on_error,
        )

    @property
    def held(self) -> tuple[str, ...]:
        """The keys this lease holds, as far as it knows."""
        return tuple(self._held)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.release()

    async def take(self, key: str) -> bool:
        """``SET key token NX PX ttl``: whether this lease holds ``key`` now (``False``:
        someone else does). A backend error propagates."""
        if await self.backend.set_if_absent(key, self.token, ttl_ms=self._ttl_ms):
            self._held.append(key)
            return True
        return False

    async def run(self, work: Callable[[], Awaitable[T]]) -> T:
        """``await work()`` while every held key is renewed; its result or its exception."""
        with single_error():
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._renew)
                try:
                    return await work()
                finally:
                    tg.cancel_scope.cancel()

    async def _renew(self) -> None:
        """Renew the held keys every third of the TTL until cancelled."""
        self._renewing = True
        try:
            while True:
                await anyio.sleep(self.ttl / 3)
                for key in list(self._held):
                    try:
                        kept = await self.backend.extend_if_equal(
                            key, self.token, ttl_ms=self._ttl_ms
                        )
                    except Exception:
                        self._failed()  # the next renewal may succeed; the work goes on
                        continue
                    if kept:
                        self.renewals += 1
                    else:
                        self.lost += 1
                        self._held.remove(key)
        finally:
            self._renewing = False

    async def release(self) -> None:
        """Release every held key that still holds the token (shielded, bounded); called when
        the ``async with`` block ends."""
        held, self._held = self._held, []
        if not held:
            return
        with anyio.CancelScope(shield=True), anyio.move_on_after(self.release_within):
            for key in held:
                try:
                    if await self.backend.delete_if_equal(key, self.token):
                        self.released += 1
                except Exception:
                    self._failed()  # the key expires by itself

    def _failed(self) -> None:
        self.errors += 1
        if self._on_error is not None:
            self._on_error()

    def __repr__(self) -> str:
        state = "renewing" if self._renewing else "idle"
        return (
            f"<Lease [{state} | held: {len(self._held)} | ttl: {self.ttl:g} s | "
            f"renewals: {self.renewals}, lost: {self.lost}, released: {self.released}, "
            f"errors: {self.errors}]>"
        )
