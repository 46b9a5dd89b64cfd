"""The shared limiter's decision as a pure function: the twin of the Redis Lua script.

:func:`decide` and :data:`engine.redis.script.RATE_SCRIPT` implement the same rule, in integer
milliseconds, and one test suite runs against both:

- ``pause_ms > 0`` first sets ``paused_until = max(paused_until, now + pause_ms)``;
- a grant at ``now`` is allowed iff ``now >= last + min_interval``, ``now >= paused_until`` and,
  for each rule ``(limit, window)``, ``now >= (the limit-th most recent grant) + window``
  (exactly :class:`engine.limits.RateSchedule`'s rule, so no half-open window holds more than
  ``limit`` grants);
- if allowed, ``now + 1`` is recorded as the last grant and in every rule's log (trimmed to
  ``limit`` entries); else the answer is the wait until the earliest allowed instant.

``now`` is the time floored to the millisecond; recording the grant one millisecond later keeps
the rules exact for the real instants (a grant at real ``t1`` and the next at ``t2`` satisfy
``t2 >= floor(t2) >= floor(t1) + 1 + interval > t1 + interval``), at the cost of a millisecond.
"""

from __future__ import annotations

from collections.abc import Sequence

from engine.shared.backend import RateDecision

__all__ = ["RateState", "decide"]


class RateState:
    """One limiter's shared state: last grant, pause, and one grant log per rule."""

    __slots__ = ("last", "logs", "paused_until")

    def __init__(self) -> None:
        self.last: int | None = None
        self.paused_until: int | None = None
        self.logs: list[list[int]] = []


def decide(
    state: RateState,
    *,
    now_ms: int,
    min_interval_ms: int,
    pause_ms: int,
    rules: Sequence[tuple[int, int]],
) -> RateDecision:
    """Grant at ``now_ms`` if allowed (recording it in ``state``), else say how long to wait."""
    if pause_ms > 0:
        until = now_ms + pause_ms
        state.paused_until = until if state.paused_until is None else max(state.paused_until, until)
    while len(state.logs) < len(rules):
        state.logs.append([])
    at = now_ms
    if state.last is not None:
        at = max(at, state.last + min_interval_ms)
    if state.paused_until is not None:
        at = max(at, state.paused_until)
    for (limit, window_ms), log in zip(rules, state.logs, strict=False):
        if len(log) >= limit:
            at = max(at, log[len(log) - limit] + window_ms)
    if at > now_ms:
        return RateDecision(granted=False, wait_ms=at - now_ms, now_ms=now_ms)
    state.last = now_ms + 1
    for (limit, _), log in zip(rules, state.logs, strict=False):
        log.append(now_ms + 1)
        del log[: max(0, len(log) - limit)]
    return RateDecision(granted=True, wait_ms=0, now_ms=now_ms)
