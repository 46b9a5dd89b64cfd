"""What the engine needs from a rate limiter, whichever one it is."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from engine.limits.rate import RateLimiterStats

__all__ = ["RateLimiting"]


@runtime_checkable
class RateLimiting(Protocol):
    """A rate limiter the engine can use: the local :class:`engine.limits.RateLimiter` or the
    shared :class:`engine.shared.RedisRateLimiter`."""

    async def acquire(self, *, deadline: float | None = None, key: str = "") -> float:
        """Wait for a grant; its time on ``clock.monotonic()``. Raises
        :class:`engine.limits.RateLimitTimeout` if no grant can come by ``deadline``."""
        ...

    def pause(self, seconds: float) -> None:
        """Make no grant for ``seconds`` from now (a Retry-After)."""
        ...

    def stats(self) -> RateLimiterStats: ...
