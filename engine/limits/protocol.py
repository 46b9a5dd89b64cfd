"""What the engine needs from a rate limiter, whichever one it is."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from engine.limits.rate import RateLimiterStats

__all__ = ["RateLimiting"]


@runtime_checkable
class RateLimiting(Protocol):
    """A rate limiter the engine can use: the local :class:`engine.limits.RateLimiter` or the
    shared :class:`engine.shared.RedisRateLimiter`."""

    async def acquire(
        self, *, deadline: float | None = None, key: str = "", first: bool = False
    ) -> float:
        """Wait for a grant; its time on ``clock.monotonic()``. Raises
        :class:`engine.limits.RateLimitTimeout` if no grant can come by ``deadline``.

        ``first``: go before the callers waiting in this process's line who did not ask to (the
        engine's retry of a request answered 429: it is granted when the pause ends, before the
        requests that queued behind it)."""
        ...

    def pause(self, seconds: float) -> None:
        """Make no grant for ``seconds`` from now (a Retry-After); never shortens a pause.
        ``seconds <= 0`` pauses nothing; a NaN or infinite one raises :class:`ValueError`."""
        ...

    def observe(self, *, rate_limited: bool) -> None:
        """The upstream answered a granted request: 429 (``rate_limited``) or not. A limiter
        with an adaptive rate learns from it; others ignore it."""
        ...

    def stats(self) -> RateLimiterStats: ...
