"""The global bulkhead: at most N upstream requests in flight."""

from __future__ import annotations

import anyio
import msgspec

from engine.limits.config import ConcurrencyConfig

__all__ = ["ConcurrencyLimiter", "ConcurrencyStats", "Slot"]


class ConcurrencyStats(msgspec.Struct, frozen=True):
    limit: int
    in_use: int
    peak: int
    waiting: int
    acquired: int


class ConcurrencyLimiter:
    """An :class:`anyio.CapacityLimiter` with statistics.

    Slots are borrowed on behalf of a token per use, not per task, so one task may hold several
    (a request that fans out) and a slot is always returned when its block exits, on errors and
    on cancellation alike. Waiters are served in FIFO order (anyio's guarantee).
    Construct it inside a running event loop.
    """

    def __init__(self, config: ConcurrencyConfig) -> None:
        self.config = config
        self._limiter = anyio.CapacityLimiter(self.config.limit)
        self._peak = 0
        self._acquired = 0

    def slot(self) -> Slot:
        """Hold one slot for the duration of the ``async with`` block."""
        return Slot(self)

    async def _take(self, token: object) -> None:
        await self._limiter.acquire_on_behalf_of(token)
        self._acquired += 1
        self._peak = max(self._peak, int(self._limiter.borrowed_tokens))

    def _give_back(self, token: object) -> None:
        self._limiter.release_on_behalf_of(token)

    def __repr__(self) -> str:
        return (
            f"<ConcurrencyLimiter [limit: {self.config.limit} | "
            f"in flight: {int(self._limiter.borrowed_tokens)} | "
            f"queued: {self._limiter.statistics().tasks_waiting} | "
            f"peak: {self._peak}, acquired: {self._acquired}]>"
        )

    def stats(self) -> ConcurrencyStats:
        return ConcurrencyStats(
            limit=self.config.limit,
            in_use=int(self._limiter.borrowed_tokens),
            peak=self._peak,
            waiting=self._limiter.statistics().tasks_waiting,
            acquired=self._acquired,
        )


class Slot:
    """One slot of a :class:`ConcurrencyLimiter`, held inside ``async with`` (taken on entry,
    given back on exit: after errors and cancellation too). A class rather than a generator
    context manager: every upstream request enters one."""

    __slots__ = ("_limiter", "_token")

    def __init__(self, limiter: ConcurrencyLimiter) -> None:
        self._limiter = limiter
        self._token = object()

    async def __aenter__(self) -> None:
        await self._limiter._take(self._token)

    async def __aexit__(self, *exc_info: object) -> None:
        self._limiter._give_back(self._token)
