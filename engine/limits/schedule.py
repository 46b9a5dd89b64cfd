"""The rate limiter's decisions, free of I/O: when may the next request go?

:class:`RateSchedule` is a sans-I/O core in the style of h11: it never reads a clock or sleeps;
every method takes ``now``. The async :class:`engine.limits.rate.RateLimiter` only sleeps until
the time this class names.

Exactness: with rules ``(N, W)`` and a minimum interval ``d``, a grant at ``t`` is allowed iff
``t >= previous grant + d`` and, for each rule, ``t >= (the N-th most recent grant) + W``. Then no
half-open window ``[s, s + W)`` anywhere holds more than ``N`` grants, and the schedule is
work-conserving: :meth:`next_allowed` is the earliest instant at which a grant breaks no rule.
"""

from __future__ import annotations

import math
from collections import deque

from engine.limits.config import RateLimitConfig

__all__ = ["MAX_PAUSE", "RateSchedule"]

_NEVER = float("-inf")

#: The longest pause a limiter accepts, in seconds (about 31 years). Not a policy (the engine
#: pauses for at most ``RetryConfig.max_retry_after``) but a guard: far beyond any Retry-After
#: worth honouring, and small enough that the shared limiter's integer milliseconds stay exact
#: (its Lua script computes in doubles).
MAX_PAUSE = 1e9


class RateSchedule:
    """Grant bookkeeping for one :class:`RateLimitConfig`; memory is O(sum of rule limits)."""

    __slots__ = ("_last", "_min_interval", "_paused_until", "_windows")

    def __init__(self, config: RateLimitConfig) -> None:
        # For each rule, its window length and the times of its `limit` most recent grants.
        self._windows = tuple(
            (rule.window, deque[float](maxlen=rule.limit)) for rule in config.rules
        )
        self._min_interval = config.min_interval
        self._last = _NEVER
        self._paused_until = _NEVER

    def next_allowed(self, now: float) -> float:
        """The earliest instant ``>= now`` at which a grant would break no rule."""
        earliest = max(now, self._last + self._min_interval, self._paused_until)
        for window, grants in self._windows:
            if len(grants) == grants.maxlen:
                earliest = max(earliest, grants[0] + window)
        return earliest

    def in_windows(self, now: float) -> tuple[int, ...]:
        """For each rule, the grants still counted against it at ``now`` (those made less than
        its window ago; at most its limit)."""
        return tuple(
            sum(1 for at in grants if at > now - window) for window, grants in self._windows
        )

    def try_grant(self, now: float) -> bool:
        """Record a grant at ``now`` if the rules allow one then; say whether it was made."""
        if self.next_allowed(now) > now:
            return False
        self._last = now
        for _, grants in self._windows:
            grants.append(now)
        return True

    def record(self, at: float) -> None:
        """Count a grant made at ``at`` by another's decision (a shared limiter's script), so
        that the grants decided here afterwards respect it too. ``at`` is not before the
        latest grant recorded."""
        self._last = at
        for _, grants in self._windows:
            grants.append(at)

    def rescale(
        self, limits: tuple[int, ...], min_interval: float, *, restart: bool = False
    ) -> None:
        """Apply new limits (one per rule, in order) and a new minimum interval. The grants
        already made count against the new limits (a lower limit counts the most recent of
        them at once), unless ``restart``: then the windows count from now on (the minimum
        interval still holds from the last grant)."""
        if len(limits) != len(self._windows):
            raise ValueError(f"{len(self._windows)} limits expected, not {len(limits)}")
        self._windows = tuple(
            (
                window,
                deque(maxlen=limit)
                if restart
                else grants
                if grants.maxlen == limit
                else deque(grants, maxlen=limit),
            )
            for (window, grants), limit in zip(self._windows, limits, strict=True)
        )
        self._min_interval = min_interval

    def pause_until(self, until: float) -> None:
        """Make no grant before ``until`` (an upstream said ``Retry-After``). Never shortens.

        ``until`` must be finite: an infinite (or NaN) one would stop every grant for good, so
        it raises :class:`ValueError` and changes nothing.
        """
        if not math.isfinite(until):
            raise ValueError(f"a pause must end at a finite instant, not {until!r}")
        if until > self._paused_until:
            self._paused_until = until
