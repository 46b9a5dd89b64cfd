"""A rate limiter shared by every instance: one atomic script call per grant attempt.

Guarantees of :class:`RedisRateLimiter`:

- Grants obey the same rules as :class:`engine.limits.RateLimiter` (every ``(limit, window)``
  rule and the minimum interval, rounded up to whole milliseconds), across all instances using
  the same backend and ``name``: the decision is one atomic script run (Lua in Redis,
  :func:`engine.shared.rate_decision.decide` in the twin) that either records a grant or answers
  the wait until the next possible one, in integer milliseconds.
- The script's clock is ``config.time_source``: ``server`` (Redis ``TIME``) or ``client``
  (``clock.wall()`` passed in; replays and tests).
- Local callers line up FIFO (an :class:`anyio.Lock`); only the head of the line talks to the
  backend, and it sleeps locally (``anyio.sleep``) for the wait the script named.
- ``pause(seconds)`` pauses this instance at once and, on its next script call, every
  instance (the script records ``paused_until``).
- Degradation: when the backend raises, the instance switches to a local
  :class:`~engine.limits.RateLimiter` with ``fallback_share`` of the budget (each rule's limit
  scaled down, at least 1; the minimum interval scaled up) and tries the backend again after
  ``retry_after`` seconds. Grants made locally are not recorded in the shared log, so the
  window around a recovery may hold up to one fallback share more than the budget.
- The ``settle`` field of the config is not used (the shared script orders by arrival).
- A cancelled caller, or one whose deadline passes, consumes no grant.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

import anyio

from engine.clock import Clock
from engine.limits.config import RateLimitConfig, WindowRule
from engine.limits.rate import RateLimiter, RateLimiterStats, RateLimitTimeout, turnstile
from engine.shared.backend import RateDecision, SharedBackend
from engine.shared.config import SharedTierConfig
from engine.shared.latency import Latency, LatencyStats
from engine.throttled_log import ThrottledWarning

__all__ = ["RedisRateLimiter", "RedisRateLimiterStats", "fallback_config"]

_LOG = logging.getLogger("engine.shared")


class RedisRateLimiterStats(RateLimiterStats, frozen=True):
    shared_grants: int
    """Grants the shared script made."""
    fallback_grants: int
    """Grants the local fallback limiter made while the backend was failing."""
    errors: int
    """Script calls that raised."""
    fallbacks: int
    """Switches to the local fallback limiter."""
    latency: LatencyStats
    """Script round trips."""


def fallback_config(config: RateLimitConfig, share: float) -> RateLimitConfig:
    """``config`` scaled to ``share`` of its budget: what one instance may use on its own."""
    return RateLimitConfig(
        rules=tuple(
            WindowRule(limit=max(1, math.floor(rule.limit * share)), window=rule.window)
            for rule in config.rules
        ),
        min_interval=config.min_interval / share,
    )


class RedisRateLimiter:
    """A limiter whose budget lives in a :class:`SharedBackend`; see the module docstring."""

    def __init__(
        self,
        backend: SharedBackend,
        config: RateLimitConfig | None = None,
        *,
        clock: Clock,
        name: str = "upstream",
        settings: SharedTierConfig | None = None,
        on_grant: Callable[[float], None] | None = None,
        log: logging.Logger = _LOG,
    ) -> None:
        self.backend = backend
        self.config = config if config is not None else RateLimitConfig()
        self.settings = settings if settings is not None else SharedTierConfig()
        self.key = f"{self.settings.prefix}:rate:{name}"
        self._clock = clock
        self._on_grant = on_grant
        self._log = log
        self._warn = ThrottledWarning(log, clock=clock, interval=self.settings.warn_interval)
        self._rules = tuple(
            (rule.limit, math.ceil(rule.window * 1000)) for rule in self.config.rules
        )
        self._min_interval_ms = math.ceil(self.config.min_interval * 1000)
        self._fallback = RateLimiter(
            fallback_config(self.config, self.settings.fallback_share), clock=clock
        )
        self._line = anyio.Lock()  # FIFO
        # With ``settle`` (replays), callers at one instant enter the line in key order, not in
        # the event loop's order, as with the local RateLimiter.
        self._turns = turnstile(config.settle, clock)
        self._pause_until: float | None = None  # monotonic; sent with the next script call
        self._down_until: float | None = None
        self._waiting = 0
        self._max_queue = 0
        self._shared_grants = 0
        self._waited = 0
        self._total_wait = 0.0
        self._timeouts = 0
        self._fallbacks = 0
        self._latency = Latency()

    async def acquire(self, *, deadline: float | None = None, key: str = "") -> float:
        """Wait for a grant and return its time on ``clock.monotonic()``; see the module doc.

        Raises :class:`~engine.limits.RateLimitTimeout` as soon as the script's wait shows the
        grant would come after ``deadline`` (an instant on ``clock.monotonic()``).
        """
        arrived = self._clock.monotonic()
        self._waiting += 1
        self._max_queue = max(self._max_queue, self._waiting)
        try:
            with anyio.fail_after(None if deadline is None else max(0.0, deadline - arrived)):
                if self._turns is not None:
                    await self._turns.acquire(key=key)
                await self._line.acquire()
        except TimeoutError:
            self._timeouts += 1
            raise RateLimitTimeout(
                "no grant possible before the deadline (still in line)", next_allowed=deadline
            ) from None
        finally:
            self._waiting -= 1
        try:
            return await self._head_of_line(arrived, deadline, key)
        finally:
            self._line.release()

    async def _head_of_line(self, arrived: float, deadline: float | None, key: str) -> float:
        waited = False
        while True:
            now = self._clock.monotonic()
            if self._down_until is not None and now < self._down_until:
                return await self._fallback.acquire(deadline=deadline, key=key)
            try:
                decision = await self._decide(now)
            except Exception as exc:
                self._failed(exc)
                continue
            if decision.granted:
                granted = self._clock.monotonic()
                self._shared_grants += 1
                if waited:
                    self._waited += 1
                    self._total_wait += granted - arrived
                if self._on_grant is not None:
                    self._on_grant(decision.now_ms / 1000)
                return granted
            wait = decision.wait_ms / 1000
            if deadline is not None and now + wait > deadline:
                self._timeouts += 1
                raise RateLimitTimeout(
                    f"no grant possible before the deadline (next in {wait:.3f} s)",
                    next_allowed=now + wait,
                )
            waited = True
            await anyio.sleep(wait)

    async def _decide(self, now: float) -> RateDecision:
        pause_until = self._pause_until
        pause_ms = 0 if pause_until is None else max(0, math.ceil((pause_until - now) * 1000))
        decision = await self._latency.timed(
            self.backend.rate_decide(
                self.key,
                now_ms=None
                if self.settings.time_source == "server"
                else math.floor(self._clock.wall() * 1000),
                min_interval_ms=self._min_interval_ms,
                pause_ms=pause_ms,
                rules=self._rules,
            ),
            self._clock,
        )
        if self._pause_until == pause_until:
            self._pause_until = None  # recorded in the shared state
        if self._down_until is not None:
            self._down_until = None
            self._log.warning("shared rate limiter %s is back", self.key)
        return decision

    def _failed(self, exc: Exception) -> None:
        now = self._clock.monotonic()
        self._down_until = now + self.settings.retry_after
        self._fallbacks += 1
        self._warn(
            "shared rate limiter %s failed, using %.0f%% of the budget locally for %.3g s: %r",
            self.key,
            self.settings.fallback_share * 100,
            self.settings.retry_after,
            exc,
        )

    def pause(self, seconds: float) -> None:
        """Make no grant for ``seconds`` from now, here at once and everywhere from the next
        script call (a Retry-After)."""
        until = self._clock.monotonic() + seconds
        self._pause_until = until if self._pause_until is None else max(self._pause_until, until)
        self._fallback.pause(seconds)

    def stats(self) -> RedisRateLimiterStats:
        local = self._fallback.stats()
        return RedisRateLimiterStats(
            granted=self._shared_grants + local.granted,
            waited=self._waited + local.waited,
            total_wait=self._total_wait + local.total_wait,
            timeouts=self._timeouts + local.timeouts,
            max_queue=self._max_queue,
            queue=self._waiting,
            shared_grants=self._shared_grants,
            fallback_grants=local.granted,
            errors=self._latency.errors,
            fallbacks=self._fallbacks,
            latency=self._latency.stats(),
        )

    def __repr__(self) -> str:
        return f"RedisRateLimiter({self.backend!r}, key={self.key!r})"
