"""The global bulkhead: at most N upstream requests in flight."""

from __future__ import annotations

from collections import deque

import anyio
import anyio.lowlevel
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
    """At most ``config.limit`` slots held at once, with statistics.

    Guarantees:

    - Slots are taken per use, not per task, so one task may hold several (a request that fans
      out), and a slot is always given back when its block exits, on errors and on
      cancellation alike.
    - Waiters are served first come, first served: a released slot passes straight to the
      longest waiter, so nobody arriving later can take it in between.
    - A waiter that is cancelled takes no slot; one cancelled just as a slot reached it passes
      that slot on to the next waiter.
    - Taking a free slot while nobody waits is not a checkpoint: it yields to the event loop
      only to raise the cancellation of a caller already cancelled (who gets no slot), as
      ``anyio.lowlevel.checkpoint_if_cancelled`` does; waiting is a checkpoint.
    """

    def __init__(self, config: ConcurrencyConfig) -> None:
        self.config = config
        self._limit = config.limit
        self._in_use = 0
        self._waiters: deque[anyio.Event] = deque()
        self._peak = 0
        self._acquired = 0

    def slot(self) -> Slot:
        """Hold one slot for the duration of the ``async with`` block."""
        return Slot(self)

    async def _take(self) -> None:
        if self._in_use < self._limit and not self._waiters:
            # A caller already cancelled gets no slot (and sends nothing); this yields only then.
            await anyio.lowlevel.checkpoint_if_cancelled()
            self._in_use += 1
        else:
            handed = anyio.Event()
            self._waiters.append(handed)
            try:
                await handed.wait()
            except BaseException:
                if handed.is_set():
                    self._give_back()  # it reached us as we left: the next waiter's now
                else:
                    self._waiters.remove(handed)
                raise
            # _give_back passed its slot on: _in_use already counts it.
        self._acquired += 1
        if self._in_use > self._peak:
            self._peak = self._in_use

    def _give_back(self) -> None:
        if self._waiters:
            self._waiters.popleft().set()
        else:
            self._in_use -= 1

    def __repr__(self) -> str:
        return (
            f"<ConcurrencyLimiter [limit: {self._limit} | in flight: {self._in_use} | "
            f"queued: {len(self._waiters)} | peak: {self._peak}, acquired: {self._acquired}]>"
        )

    def stats(self) -> ConcurrencyStats:
        return ConcurrencyStats(
            limit=self._limit,
            in_use=self._in_use,
            peak=self._peak,
            waiting=len(self._waiters),
            acquired=self._acquired,
        )


class Slot:
    """One slot of a :class:`ConcurrencyLimiter`, held inside ``async with`` (taken on entry,
    given back on exit: after errors and cancellation too). A class rather than a generator
    context manager: every upstream request enters one."""

    __slots__ = ("_limiter",)

    def __init__(self, limiter: ConcurrencyLimiter) -> None:
        self._limiter = limiter

    async def __aenter__(self) -> None:
        await self._limiter._take()

    async def __aexit__(self, *exc_info: object) -> None:
        self._limiter._give_back()
