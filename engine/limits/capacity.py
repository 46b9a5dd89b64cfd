"""The global bulkhead: at most N upstream requests in flight."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import msgspec

from engine.limits.config import ConcurrencyConfig

__all__ = ["ConcurrencyLimiter", "ConcurrencyStats"]


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

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one slot for the duration of the block."""
        token = object()
        await self._limiter.acquire_on_behalf_of(token)
        try:
            self._acquired += 1
            self._peak = max(self._peak, int(self._limiter.borrowed_tokens))
            yield
        finally:
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
