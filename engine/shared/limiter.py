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
- Degradation: when a script call raises, the instance grants on its own with
  ``fallback_share`` of the budget (:func:`fallback_config`: each rule's limit scaled down, at
  least 1; the minimum interval scaled up), counting against that share every grant it made in
  the current windows, the shared ones before the failure included. Each request tries the
  backend once more before it takes a local grant (a failing call costs at most the backend's
  command timeout), and one waiting for a local grant tries it every ``retry_after`` seconds: the
  first request after the backend is back gets a shared grant.
- Recovery: every script call carries the grants this instance made in the current windows:
  the shared ones as the script recorded them, which it adds again wherever its state lost them
  (a Redis restarted empty), and the local ones as their ages, recorded once as made that long
  ago (never earlier than they were made). So with one instance per ``name``, no window ever
  holds more grants than the budget, at a failure or at a recovery, whether or not Redis kept
  its state.
- With several instances, each knows only its own grants: while all of them are degraded, the
  budget holds if the shares add up to at most 1 (``fallback_share`` of ``1 / instances``), but
  a window around a failure may also hold the fallback grants of instances that did not see the
  others' shared grants, and one around a recovery the grants of instances that have not called
  the script since (their fallback grants; all their grants if Redis lost its state).
- The ``settle`` field of the config orders simultaneous callers (replays); the shared script
  itself orders by arrival.
- A cancelled caller, or one whose deadline passes, consumes no grant.
- Busy time (:class:`~engine.limits.RateLimiterStats`): every caller waits for its grant, a
  script round trip at least, so the limiter is busy while any caller is in :meth:`acquire`,
  and every grant is a busy grant.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Callable

import anyio

from engine.clock import Clock
from engine.limits.adaptive import AdaptiveRate
from engine.limits.config import RateLimitConfig, WindowRule
from engine.limits.line import Line
from engine.limits.priority import (
    BACKGROUND,
    INTERACTIVE,
    Priority,
    PriorityShare,
    fetch_priority,
)
from engine.limits.rate import RateLimiterStats, RateLimitTimeout, checked_pause, turnstile
from engine.limits.schedule import RateSchedule
from engine.shared.backend import RateDecision, SharedBackend
from engine.shared.config import SharedTierConfig
from engine.shared.latency import Latency, LatencyStats
from engine.throttled_log import ThrottledWarning

__all__ = ["RedisRateLimiter", "RedisRateLimiterStats", "fallback_config"]

_LOG = logging.getLogger("engine.shared")


class RedisRateLimiterStats(RateLimiterStats, frozen=True, kw_only=True):
    shared_grants: int
    """Grants the shared script made."""
    fallback_grants: int
    """Grants made locally (a share of the budget) while the backend was failing."""
    errors: int
    """Script calls that raised."""
    fallbacks: int
    """Switches from the shared script to local grants (one per outage seen)."""
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


class _Grant:
    """A grant this instance made: when (``clock.monotonic()``), and the epoch millisecond the
    script's log holds it at (``None`` for a local grant the script has not been told of)."""

    __slots__ = ("at", "script_ms")

    def __init__(self, at: float, script_ms: int | None) -> None:
        self.at = at
        self.script_ms = script_ms


class RedisRateLimiter:
    """A limiter whose budget lives in a :class:`SharedBackend`; see the module docstring."""

    def __init__(
        self,
        backend: SharedBackend,
        config: RateLimitConfig,
        *,
        clock: Clock,
        name: str = "upstream",
        settings: SharedTierConfig | None = None,
        on_grant: Callable[[float], None] | None = None,
        log: logging.Logger = _LOG,
    ) -> None:
        self.backend = backend
        self.config = config
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
        self._longest = max(
            [rule.window for rule in self.config.rules] + [self.config.min_interval]
        )
        # The adapted rate (RateLimitConfig.adaptive): this instance's AIMD core, whose changes
        # go to the shared scale with the next call, and which adopts the shared scale back.
        adaptive = config.adaptive
        self.adaptive = AdaptiveRate(adaptive, config) if adaptive is not None else None
        self._adapt_key = f"{self.key}:adapt"
        self._pending_increase = 0.0
        self._pending_decrease: float | None = None
        self._adapted_at = -math.inf
        ceiling = adaptive.ceiling if adaptive is not None else 1.0
        # This instance's latest grants, enough for every rule (the script trims its logs alike).
        self._grants: deque[_Grant] = deque(
            maxlen=max([math.ceil(rule.limit * ceiling) for rule in self.config.rules] + [1])
        )
        # What the instance may grant on its own: the share's rules over every grant it made
        # (shared ones included, each recorded here too), and the local pause.
        self._fallback = RateSchedule(fallback_config(self.config, self.settings.fallback_share))
        # FIFO, but a retry after a 429 asks to go first; with priority classes
        # (RateLimitConfig.background_share) interactive before background, within the share.
        share = config.background_share
        self._line = Line(PriorityShare(share) if share is not None else None)
        self._background_grants = 0
        # With ``settle`` (replays), callers at one instant enter the line in key order, not in
        # the event loop's order, as with the local RateLimiter.
        self._turns = turnstile(self.config.settle, clock)
        self._pause_until: float | None = None  # monotonic; sent with the next script call
        self._down = False  # the last script call raised
        self._retry_at = 0.0  # monotonic; while down, a waiting caller tries the backend then
        self._waiting = 0
        self._max_queue = 0
        self._shared_grants = 0
        self._fallback_grants = 0
        self._waited = 0
        self._total_wait = 0.0
        self._timeouts = 0
        self._fallbacks = 0
        self._latency = Latency()
        self._pending = 0  # callers in acquire, not yet granted
        self._busy_time = 0.0  # closed busy stretches
        self._busy_since = 0.0
        self._busy_periods = 0
        self._interactive_at = -math.inf  # this instance's latest interactive grant
        self._interactive_waiting = 0

    async def acquire(
        self,
        *,
        deadline: float | None = None,
        key: str = "",
        first: bool = False,
        priority: Priority | None = None,
    ) -> float:
        """Wait for a grant and return its time on ``clock.monotonic()``; see the module doc.

        Raises :class:`~engine.limits.RateLimitTimeout` as soon as the script's wait shows the
        grant would come after ``deadline`` (an instant on ``clock.monotonic()``). ``first``
        takes the next turn in this instance's line, before the local callers waiting for one
        (the one holding the turn, talking to the backend, keeps it until its grant).
        """
        if priority is None:
            priority = fetch_priority()
        arrived = self._clock.monotonic()
        # Every caller waits for a grant here (a script round trip at least): busy from the
        # first caller's arrival until no caller is left.
        if not self._pending:
            self._busy_since = arrived
            self._busy_periods += 1
        self._pending += 1
        interactive = priority == INTERACTIVE
        self._interactive_waiting += interactive
        try:
            granted = await self._acquire(arrived, deadline, key, first, priority)
        except BaseException:
            if interactive:  # it waited until now, granted or not: no spare budget meanwhile
                self._interactive_at = self._clock.monotonic()
            raise
        finally:
            self._interactive_waiting -= interactive
            self._pending -= 1
            if not self._pending:
                self._busy_time += self._clock.monotonic() - self._busy_since
        if interactive:
            self._interactive_at = granted
        return granted

    def last_interactive(self) -> float | None:
        """``None`` while an interactive request of this instance waits, else the instant of
        its latest interactive grant or waiter's leaving without one (``-inf`` before either); see
        :meth:`engine.limits.RateLimiter.last_interactive`. Other instances' requests are not
        seen: spare budget is judged per instance."""
        return None if self._interactive_waiting else self._interactive_at

    async def _acquire(
        self, arrived: float, deadline: float | None, key: str, first: bool, priority: Priority
    ) -> float:
        self._waiting += 1
        self._max_queue = max(self._max_queue, self._waiting)
        try:
            with anyio.fail_after(None if deadline is None else max(0.0, deadline - arrived)):
                if self._turns is not None:
                    await self._turns.acquire(key=key, first=first)
                await self._line.acquire(first=first, priority=priority)
        except TimeoutError:
            self._timeouts += 1
            raise RateLimitTimeout(
                "no grant possible before the deadline (still in line)", next_allowed=deadline
            ) from None
        finally:
            self._waiting -= 1
        try:
            granted = await self._head_of_line(arrived, deadline, key)
        finally:
            self._line.release()
        if priority == BACKGROUND:
            self._background_grants += 1
        return granted

    async def _head_of_line(self, arrived: float, deadline: float | None, key: str) -> float:
        waited = False
        ask = True  # every turn asks the backend first, even while it is failing
        while True:
            now = self._clock.monotonic()
            if ask or not self._down or now >= self._retry_at:
                ask = False
                try:
                    decision = await self._decide(now)
                except Exception as exc:
                    self._failed(exc)
                else:
                    if decision.granted:
                        granted = self._clock.monotonic()
                        self._grants.append(_Grant(granted, decision.now_ms + 1))
                        self._fallback.record(granted)
                        self._shared_grants += 1
                        return self._granted(granted, arrived, waited, decision.now_ms / 1000)
                    wait = decision.wait_ms / 1000
                    if deadline is not None and now + wait > deadline:
                        raise self._timeout(now + wait)
                    waited = True
                    await anyio.sleep(wait)
                    continue
            # The backend failed: this instance's share of the budget, on its own.
            now = self._clock.monotonic()
            if self._fallback.try_grant(now):
                self._grants.append(_Grant(now, None))
                self._fallback_grants += 1
                return self._granted(now, arrived, waited, None)
            at = self._fallback.next_allowed(now)
            if deadline is not None and at > deadline and self._retry_at >= deadline:
                raise self._timeout(at)
            waited = True
            await anyio.sleep(min(at, self._retry_at) - now)

    def _granted(self, at: float, arrived: float, waited: bool, script_time: float | None) -> float:
        if waited:
            self._waited += 1
            self._total_wait += at - arrived
        if script_time is not None and self._on_grant is not None:
            self._on_grant(script_time)
        return at

    def _timeout(self, next_allowed: float) -> RateLimitTimeout:
        self._timeouts += 1
        return RateLimitTimeout.next_at(next_allowed)

    async def _decide(self, now: float) -> RateDecision:
        if self.adaptive is not None:
            await self._adapt(now)
        pause_until = self._pause_until
        pause_ms = 0 if pause_until is None else max(0, math.ceil((pause_until - now) * 1000))
        # The grants of the current windows: the shared ones the state may have lost (Redis
        # restarted empty) and the local ones it was never told of.
        since = now - self._longest
        recent = [grant for grant in self._grants if grant.at > since]
        known = [grant.script_ms for grant in recent if grant.script_ms is not None]
        local = [grant for grant in recent if grant.script_ms is None]
        ages = [math.floor((now - grant.at) * 1000) for grant in local]
        decision = await self._latency.timed(
            self.backend.rate_decide(
                self.key,
                now_ms=None
                if self.settings.time_source == "server"
                else math.floor(self._clock.wall() * 1000),
                min_interval_ms=self._min_interval_ms,
                pause_ms=pause_ms,
                rules=self._rules,
                known_ms=known,
                ages_ms=ages,
            ),
            self._clock,
        )
        for grant, age in zip(local, ages, strict=True):
            grant.script_ms = decision.now_ms - age + 1  # where the script recorded it
        if self._pause_until == pause_until:
            self._pause_until = None  # recorded in the shared state
        if self._down:
            self._down = False
            self._log.warning("shared rate limiter %s is back", self.key)
        return decision

    def _failed(self, exc: Exception) -> None:
        self._retry_at = self._clock.monotonic() + self.settings.retry_after
        if not self._down:
            self._down = True
            self._fallbacks += 1
        self._warn(
            "shared rate limiter %s failed, using %.0f%% of the budget locally (trying it again "
            "with each request, and every %.3g s while one waits): %r",
            self.key,
            self.settings.fallback_share * 100,
            self.settings.retry_after,
            exc,
        )

    def observe(self, *, rate_limited: bool) -> None:
        """The upstream answered a granted request: 429 (``rate_limited``) or not. With
        ``RateLimitConfig.adaptive`` this instance's core learns from it and the change goes
        to the shared scale with the next call (see :mod:`engine.shared.rate_adapt`)."""
        core = self.adaptive
        if core is None:
            return
        before = core.scale
        if rate_limited:
            if core.on_rate_limited(self._clock.monotonic()):
                pending = self._pending_decrease
                self._pending_decrease = core.scale if pending is None else min(pending, core.scale)
        elif core.on_success(waiting=self._pending > 0):
            self._pending_increase += core.scale - before

    async def _adapt(self, now: float) -> None:
        """Send this instance's pending changes to the shared scale and adopt the answer: when a
        decrease is pending, else at most once a second."""
        core = self.adaptive
        assert core is not None
        if self._pending_decrease is None and now - self._adapted_at < 1.0:
            return
        config = core.config
        increase, decrease = self._pending_increase, self._pending_decrease
        scale = await self.backend.rate_adapt(
            self._adapt_key,
            now_ms=None
            if self.settings.time_source == "server"
            else math.floor(self._clock.wall() * 1000),
            increase=increase,
            decrease_to=decrease,
            floor=config.floor,
            ceiling=config.ceiling,
            hold_ms=math.ceil(2000 / core.rate) if core.rate > 0 else 1000,
            ttl_ms=math.ceil(max(self._longest, 60.0) * 1000 * 10),
        )
        self._pending_increase -= increase
        if self._pending_decrease == decrease:
            self._pending_decrease = None
        self._adapted_at = now
        core.adopt(scale)
        limits, interval = core.rules
        self._rules = tuple(
            (limit, window_ms) for limit, (_, window_ms) in zip(limits, self._rules, strict=True)
        )
        self._min_interval_ms = math.ceil(interval * 1000)

    def pause(self, seconds: float) -> None:
        """Make no grant for ``seconds`` from now, here at once and everywhere from the next
        script call (a Retry-After). Never shortens a pause; ``seconds <= 0`` pauses nothing;
        a NaN, infinite or longer than ``engine.limits.MAX_PAUSE`` one raises
        :class:`ValueError` and pauses nothing (the engine bounds a Retry-After by
        ``RetryConfig.max_retry_after`` before it pauses)."""
        seconds = checked_pause(seconds)  # before anything changes
        if not seconds > 0:
            return
        until = self._clock.monotonic() + seconds
        self._fallback.pause_until(until)
        if self._pause_until is None or until > self._pause_until:
            self._pause_until = until

    def stats(self) -> RedisRateLimiterStats:
        return RedisRateLimiterStats(
            granted=self._shared_grants + self._fallback_grants,
            waited=self._waited,
            total_wait=self._total_wait,
            timeouts=self._timeouts,
            max_queue=self._max_queue,
            queue=self._waiting,
            busy_time=self._busy_time + self._busy_open(),
            busy_periods=self._busy_periods,
            busy_grants=self._shared_grants + self._fallback_grants,
            adaptive_scale=None if self.adaptive is None else self.adaptive.scale,
            adaptive_decreases=0 if self.adaptive is None else self.adaptive.decreases,
            background_grants=self._background_grants,
            contended_grants=0 if self._line.share is None else self._line.share.contended,
            background_ahead=0 if self._line.share is None else self._line.share.background_ahead,
            shared_grants=self._shared_grants,
            fallback_grants=self._fallback_grants,
            errors=self._latency.errors,
            fallbacks=self._fallbacks,
            latency=self._latency.stats(),
        )

    def _busy_open(self) -> float:
        """The current busy stretch so far (0 when no caller is in :meth:`acquire`)."""
        if not self._pending:
            return 0.0
        try:
            return max(0.0, self._clock.monotonic() - self._busy_since)
        except Exception:  # no running event loop: the clock cannot be read
            return 0.0

    def __repr__(self) -> str:
        config = self.config
        rules = ", ".join(f"{rule.limit} per {rule.window:g} s" for rule in config.rules)
        state = (
            f"degraded: {self.settings.fallback_share:.0%} of the budget locally"
            if self._down
            else "shared"
        )
        parts = [self.key, state, f"rules: {rules or 'none'}, {config.min_interval:g} s apart"]
        try:
            now: float | None = self._clock.monotonic()
        except Exception:  # no running event loop: the clock cannot be read
            now = None
        if now is not None and config.rules:
            # This instance's own grants (the shared budget's total lives in the backend).
            here = ", ".join(
                f"{sum(1 for grant in self._grants if grant.at > now - rule.window)}"
                f"/{rule.limit} in {rule.window:g} s"
                for rule in config.rules
            )
            parts.append(f"granted here in window: {here}")
        parts.append(f"queued: {self._waiting}")
        parts.append(
            f"granted: {self._shared_grants + self._fallback_grants} "
            f"(shared: {self._shared_grants}, fallback: {self._fallback_grants}), "
            f"timeouts: {self._timeouts}, errors: {self._latency.errors}"
        )
        return f"<RedisRateLimiter [{' | '.join(parts)}]>"
