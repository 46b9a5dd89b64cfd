"""The shared adapted rate as a pure function: the twin of :data:`engine.redis.script.ADAPT_SCRIPT`.

Instances that share one budget (:class:`~engine.shared.RedisRateLimiter`) with
``RateLimitConfig.adaptive`` share its *scale* too, so that they converge as one: each instance
runs the AIMD core (:class:`engine.limits.adaptive.AdaptiveRate`) on what its own requests are
answered, and sends the change with its next call: the sum of its successes' increases, and the
scale a 429 asked for. :func:`adapt` applies them to the shared state atomically:

- ``increase`` is added, the scale kept at most ``ceiling``;
- ``decrease_to`` (when given) lowers the scale to it, at least ``floor``, unless an earlier
  decrease is still holding (``now < hold``): the 429s of one burst, seen by several instances,
  are one signal; a decrease holds the next ones off for ``hold_ms``;
- the answer is the shared scale, which every instance adopts and applies to its rules.

The scale is a float; the state also keeps the instant the current hold ends, in epoch ms.
"""

from __future__ import annotations

__all__ = ["AdaptState", "adapt"]


class AdaptState:
    """One limiter's shared adaptive state: the scale and the end of the current hold."""

    __slots__ = ("hold_until", "scale")

    def __init__(self) -> None:
        self.scale: float | None = None
        self.hold_until: int | None = None


def adapt(
    state: AdaptState,
    *,
    now_ms: int,
    increase: float,
    decrease_to: float | None,
    floor: float,
    ceiling: float,
    hold_ms: int,
) -> float:
    """Apply one instance's changes to ``state``; the shared scale after them."""
    scale = 1.0 if state.scale is None else state.scale
    scale = min(max(scale, floor), ceiling)
    if increase > 0:
        scale = min(scale + increase, ceiling)
    if decrease_to is not None and (state.hold_until is None or now_ms >= state.hold_until):
        scale = max(min(scale, decrease_to), floor)
        state.hold_until = now_ms + hold_ms
    state.scale = scale
    return scale
