"""Both limits composed: what every upstream request passes before it is sent."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from engine.limits.capacity import ConcurrencyLimiter
from engine.limits.priority import FETCH_PRIORITY, Priority
from engine.limits.protocol import RateLimiting

__all__ = ["UpstreamGate"]


class UpstreamGate:
    """Takes a rate grant, then a concurrency slot, then lets the request go.

    The order is deliberate: a request never holds a concurrency slot while it waits for a rate
    grant, so slots are only ever held by requests on the wire, and a slow rate queue cannot
    starve the bulkhead. The cost of the order: when every slot is busy, a granted request waits
    for a slot and goes out later than its grant, so on the wire two requests can be closer than
    the minimum interval. Size the bulkhead so that it is not the bottleneck (the design note's
    6 slots at one grant per 0.75 s leave 4.5 s per request), and let the upstream's own limit,
    measured on arrival, be the judge (the simulator's request log is).
    """

    def __init__(self, rate: RateLimiting, concurrency: ConcurrencyLimiter) -> None:
        self.rate = rate
        self.concurrency = concurrency

    def __repr__(self) -> str:
        return f"<UpstreamGate [{self.rate!r} then {self.concurrency!r}]>"

    @asynccontextmanager
    async def request(
        self,
        *,
        deadline: float | None = None,
        key: str = "",
        first: bool = False,
        priority: Priority | None = None,
    ) -> AsyncIterator[float]:
        """Hold a rate grant and a slot for the block; yields the grant time. ``key`` orders
        simultaneous requests; ``first`` puts the request at the head of the rate limiter's line
        (see :class:`~engine.limits.rate.RateLimiter`). ``priority`` is the request's class in
        the rate limiter's line (:mod:`engine.limits.priority`; default: the
        :data:`~engine.limits.priority.FETCH_PRIORITY` already set); it travels to the limiter in
        that context variable, which every limiter of the engine reads."""
        if priority is None:
            granted = await self.rate.acquire(deadline=deadline, key=key, first=first)
        else:
            token = FETCH_PRIORITY.set(priority)
            try:
                granted = await self.rate.acquire(deadline=deadline, key=key, first=first)
            finally:
                FETCH_PRIORITY.reset(token)
        async with self.concurrency.slot():
            yield granted
