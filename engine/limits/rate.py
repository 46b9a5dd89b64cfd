"""An async rate limiter: FIFO, cancellation-safe, deadline-aware, in real or virtual time."""

from __future__ import annotations

from collections import deque

import anyio
import msgspec

from engine.clock import Clock
from engine.limits.config import RateLimitConfig
from engine.limits.schedule import RateSchedule

__all__ = ["RateLimitTimeout", "RateLimiter", "RateLimiterStats"]


class RateLimitTimeout(TimeoutError):
    """No grant could be made before the caller's deadline."""

    def __init__(self, message: str, *, next_allowed: float) -> None:
        super().__init__(message)
        self.next_allowed = next_allowed


class RateLimiterStats(msgspec.Struct, frozen=True):
    granted: int
    waited: int
    """Grants that had to wait (the rest went through at once)."""
    total_wait: float
    """Seconds spent waiting, summed over granted callers."""
    timeouts: int
    max_queue: int
    queue: int


class _Waiter:
    __slots__ = ("wake",)

    def __init__(self) -> None:
        self.wake = anyio.Event()


class RateLimiter:
    """Grants requests as fast as the :class:`RateLimitConfig` rules allow, and never faster.

    Guarantees:

    - Every grant respects every rule (see :class:`engine.limits.schedule.RateSchedule`), and no
      grant is later than the rules and the FIFO order require (work-conserving).
    - Waiters are served first come, first served.
    - A waiter that is cancelled, or whose deadline passes, consumes no grant and does not delay
      the waiters behind it.
    - When nobody waits and the rules allow it, :meth:`acquire` returns without a checkpoint and
      without touching anyio: the uncontended path is a few comparisons.
    """

    def __init__(self, config: RateLimitConfig | None = None, *, clock: Clock) -> None:
        self.config = config if config is not None else RateLimitConfig()
        self._clock = clock
        self._schedule = RateSchedule(self.config)
        self._queue: deque[_Waiter] = deque()
        self._granted = 0
        self._waited = 0
        self._total_wait = 0.0
        self._timeouts = 0
        self._max_queue = 0

    async def acquire(self, *, deadline: float | None = None) -> float:
        """Wait for a grant and return its time (on ``clock.monotonic()``).

        ``deadline`` is an instant on ``clock.monotonic()``. When the grant cannot be made by
        then, raises :class:`RateLimitTimeout`; it raises as soon as it knows (the head of the
        queue does not sleep towards a grant that would come too late).
        """
        now = self._clock.monotonic()
        if not self._queue and self._schedule.try_grant(now):
            self._granted += 1
            return now
        return await self._wait_in_line(now, deadline)

    async def _wait_in_line(self, arrived: float, deadline: float | None) -> float:
        waiter = _Waiter()
        queue = self._queue
        queue.append(waiter)
        self._max_queue = max(self._max_queue, len(queue))
        try:
            while queue[0] is not waiter:
                if deadline is None:
                    await waiter.wake.wait()
                    continue
                with anyio.move_on_after(deadline - self._clock.monotonic()):
                    await waiter.wake.wait()
                    continue
                raise self._timeout(self._schedule.next_allowed(self._clock.monotonic()))
            # Head of the line: sleep until the schedule allows a grant. An upstream's
            # Retry-After can push that instant later while we sleep, hence the loop.
            while True:
                now = self._clock.monotonic()
                at = self._schedule.next_allowed(now)
                if at <= now:
                    break
                if deadline is not None and at > deadline:
                    raise self._timeout(at)
                await anyio.sleep(at - now)
            self._schedule.try_grant(now)
        except BaseException:
            was_head = queue[0] is waiter
            queue.remove(waiter)
            if was_head and queue:
                queue[0].wake.set()
            raise
        queue.popleft()
        if queue:
            queue[0].wake.set()
        self._granted += 1
        self._waited += 1
        self._total_wait += now - arrived
        return now

    def _timeout(self, next_allowed: float) -> RateLimitTimeout:
        self._timeouts += 1
        return RateLimitTimeout(
            f"no grant possible before the deadline (next at {next_allowed:.3f})",
            next_allowed=next_allowed,
        )

    def pause(self, seconds: float) -> None:
        """Make no grant for ``seconds`` from now: how the whole engine honours a Retry-After."""
        self._schedule.pause_until(self._clock.monotonic() + seconds)

    def stats(self) -> RateLimiterStats:
        return RateLimiterStats(
            granted=self._granted,
            waited=self._waited,
            total_wait=self._total_wait,
            timeouts=self._timeouts,
            max_queue=self._max_queue,
            queue=len(self._queue),
        )
