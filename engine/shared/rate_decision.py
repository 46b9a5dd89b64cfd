"""The shared limiter's decision as a pure function: the twin of the Redis Lua script.

:func:`decide` and :data:`engine.redis.script.RATE_SCRIPT` implement the same rule, in integer
milliseconds, and one test suite runs against both:

- ``pause_ms > 0`` first sets ``paused_until = max(paused_until, now + pause_ms)``;
- then the caller's own grants the state may not hold are merged into every rule's log:
  ``known_ms``, grants the caller made through this script, as it recorded them (a state that
  was lost, a Redis restarted empty, learns them again; one that holds them is unchanged), and
  ``ages_ms``, grants the caller made on its own while the backend failed, ``age`` ms before
  ``now``, recorded at ``now - age + 1`` (never earlier than they were made). Only grants inside
  a rule's window enter its log, a known one only if the log does not hold it already (counting
  repeats) and is not full of later grants; the merged log is sorted and trimmed to ``limit``.
  ``last`` becomes the latest of the merged grants if that is later;
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

from collections import Counter
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
    known_ms: Sequence[int] = (),
    ages_ms: Sequence[int] = (),
) -> RateDecision:
    """Grant at ``now_ms`` if allowed (recording it in ``state``), else say how long to wait.

    ``known_ms`` and ``ages_ms`` are merged into ``state`` first (see the module docstring)."""
    if pause_ms > 0:
        until = now_ms + pause_ms
        state.paused_until = until if state.paused_until is None else max(state.paused_until, until)
    while len(state.logs) < len(rules):
        state.logs.append([])
    del state.logs[len(rules) :]
    if known_ms or ages_ms:
        _merge(state, now_ms, min_interval_ms, rules, known_ms, [now_ms - a + 1 for a in ages_ms])
    at = now_ms
    if state.last is not None:
        at = max(at, state.last + min_interval_ms)
    if state.paused_until is not None:
        at = max(at, state.paused_until)
    for (limit, window_ms), log in zip(rules, state.logs, strict=True):
        if len(log) >= limit:
            at = max(at, log[len(log) - limit] + window_ms)
    if at > now_ms:
        return RateDecision(granted=False, wait_ms=at - now_ms, now_ms=now_ms)
    state.last = now_ms + 1
    for (limit, _), log in zip(rules, state.logs, strict=True):
        log.append(now_ms + 1)
        del log[: max(0, len(log) - limit)]
    return RateDecision(granted=True, wait_ms=0, now_ms=now_ms)


def _merge(
    state: RateState,
    now_ms: int,
    min_interval_ms: int,
    rules: Sequence[tuple[int, int]],
    known: Sequence[int],
    fallback: Sequence[int],
) -> None:
    """Merge a caller's grants into ``state`` (the module docstring's second step)."""
    for (limit, window_ms), log in zip(rules, state.logs, strict=True):
        since = now_ms - window_ms
        present = Counter(log)
        full_from = log[0] if len(log) >= limit else None
        added = False
        for t in known:
            if t <= since:
                continue
            if present[t] > 0:
                present[t] -= 1
            elif full_from is None or t >= full_from:
                log.append(t)
                added = True
        for t in fallback:
            if t > since:
                log.append(t)
                added = True
        if added:
            log.sort()
            del log[: max(0, len(log) - limit)]
    for t in fallback:
        if state.last is None or t > state.last:
            state.last = t
    for t in known:
        if t > now_ms - min_interval_ms and (state.last is None or t > state.last):
            state.last = t
