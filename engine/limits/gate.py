"""Both limits composed: what every upstream request passes before it is sent."""

from __future__ import annotations

from engine.limits.capacity import ConcurrencyLimiter
from engine.limits.priority import FETCH_PRIORITY, Priority
from engine.limits.protocol import RateLimiting

__all__ = ["Passage", "UpstreamGate"]


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

    def request(
        self,
        *,
        deadline: float | None = None,
        key: str = "",
        first: bool = False,
        priority: Priority | None = None,
    ) -> Passage:
        """Hold a rate grant and a slot for the ``async with`` block, which receives the grant
        time. ``key`` orders simultaneous requests; ``first`` puts the request at the head of
        the rate limiter's line (see :class:`~engine.limits.rate.RateLimiter`). ``priority`` is
        the request's class in the rate limiter's line (:mod:`engine.limits.priority`;
        default: the :data:`~engine.limits.priority.FETCH_PRIORITY` already set); it travels
        to the limiter in that context variable, which every limiter of the engine reads."""
        return Passage(self, deadline, key, first, priority)


class Passage:
    """One request through an :class:`UpstreamGate`: ``async with`` takes the rate grant, then
    a slot, and yields the grant time; the slot is given back on exit (errors and cancellation
    included). A class rather than a generator context manager: every upstream request
    enters one."""

    __slots__ = ("_deadline", "_first", "_gate", "_key", "_priority")

    def __init__(
        self,
        gate: UpstreamGate,
        deadline: float | None,
        key: str,
        first: bool,
        priority: Priority | None,
    ) -> None:
        self._gate = gate
        self._deadline = deadline
        self._key = key
        self._first = first
        self._priority = priority

    async def __aenter__(self) -> float:
        gate = self._gate
        token = None if self._priority is None else FETCH_PRIORITY.set(self._priority)
        try:
            granted = await gate.rate.acquire(
                deadline=self._deadline, key=self._key, first=self._first
            )
        finally:
            if token is not None:
                FETCH_PRIORITY.reset(token)
        # The slot's own entry and exit (a Slot's): __aexit__ runs only if this returned.
        await gate.concurrency._take()
        return granted

    async def __aexit__(self, *exc_info: object) -> None:
        self._gate.concurrency._give_back()
