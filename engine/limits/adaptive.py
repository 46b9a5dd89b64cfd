"""The budget's rate learnt from the upstream's answers: AIMD, free of I/O.

An upstream that does not publish its limit leaves a fixed budget wrong in both directions:
above the true limit every window draws 429s, below it capacity sits unused. :class:`AdaptiveRate`
keeps a *scale* of the configured budget (1.0 is the configured rate) and moves it with the
upstream's answers, the way TCP moves its window:

- **Multiplicative decrease** on a 429: the rate drops to ``decrease`` times the lower of the
  current rate and the rate at which requests were actually sent lately (the rate that drew
  the 429), so one 429 puts the budget below the rate the upstream refused. The 429s of the
  requests already in flight when the first one came back are one signal, not several: after a
  decrease, further 429s change nothing for ``hold`` (two grants at the new rate). The
  Retry-After itself is honoured by the limiter's pause, not here.
- **Additive increase** while requests succeed with work waiting for the budget: a saturated
  limiter gains ``increase`` requests a minute in its first minute after a decrease, and the
  step doubles with every further saturated minute without a 429 (0.75, 1.5, 3, ... requests a
  minute), so the rate creeps back towards the one that drew the last 429 (few 429s) and races
  to a limit that has risen (minutes, not an hour). Successes while nobody waits say nothing
  about a higher rate and change nothing.
- A decrease starts the window rules afresh when there is a minimum interval (which then sets
  the lower pace at once): otherwise the grants made at the old, faster rate would silence the
  limiter until they aged out, leaving budget unused while the upstream frees its slots as fast
  as it admitted them a window ago.
- The scale stays within ``[floor, ceiling]``. Every rule is scaled together: each window's
  limit becomes ``max(1, floor(limit * scale))`` and the minimum interval ``interval / scale``.

Every method takes ``now`` (or nothing) and returns whether the effective rules changed; the
limiter that owns the core applies them (:meth:`engine.limits.schedule.RateSchedule.rescale`).
"""

from __future__ import annotations

import math

from engine.limits.config import AdaptiveRateConfig, RateLimitConfig

__all__ = ["AdaptiveRate", "ScaledRules"]

#: ``(limits, min_interval)``: each rule's limit after scaling, and the scaled interval.
ScaledRules = tuple[tuple[int, ...], float]


class AdaptiveRate:
    """AIMD on the scale of a :class:`RateLimitConfig` (see the module docstring)."""

    __slots__ = (
        "_base",
        "_config",
        "_hold_until",
        "_probing",
        "_rules",
        "decreases",
        "scale",
    )

    def __init__(self, config: AdaptiveRateConfig, base: RateLimitConfig) -> None:
        self._config = config
        self._base = base
        self.scale = min(max(1.0, config.floor), config.ceiling)
        self._hold_until = -math.inf
        self._rules = self._scaled(self.scale)
        self._probing = 0.0  # saturated minutes since the last decrease
        self.decreases = 0

    @property
    def config(self) -> AdaptiveRateConfig:
        return self._config

    @property
    def base_rate(self) -> float:
        """Requests a second the configured budget sustains (``inf`` without any rule)."""
        rates = [rule.limit / rule.window for rule in self._base.rules]
        if self._base.min_interval > 0:
            rates.append(1 / self._base.min_interval)
        return min(rates, default=math.inf)

    @property
    def rate(self) -> float:
        """Requests a second the scaled budget sustains."""
        return self.base_rate * self.scale

    @property
    def rules(self) -> ScaledRules:
        return self._rules

    def on_success(self, *, waiting: bool) -> bool:
        """A request was answered (not 429). ``waiting``: work was waiting for the budget."""
        config = self._config
        if not waiting or not config.increase or self.scale >= config.ceiling:
            return False
        base = self.base_rate
        if math.isinf(base):
            return False
        per_minute = self.rate * 60.0  # successes a minute when saturated
        step = config.increase * 2.0 ** min(math.floor(self._probing), 30)
        self._probing += 1.0 / per_minute
        return self._set(self.scale + step / per_minute / (base * 60.0))

    def on_rate_limited(self, now: float, *, sent_rate: float | None = None) -> bool:
        """A request was answered 429 at ``now``. ``sent_rate``: requests a second actually sent
        lately (the rate that drew the 429), when known."""
        if now < self._hold_until:
            return False
        base = self.base_rate
        if math.isinf(base):
            return False
        drew = self.rate if sent_rate is None else min(self.rate, sent_rate)
        changed = self._set(self._config.decrease * drew / base)
        self.decreases += 1
        self._probing = 0.0
        self._hold_until = now + 2.0 / self.rate
        return changed

    def adopt(self, scale: float) -> bool:
        """Take ``scale`` as the current one (the shared limiter's, agreed by every instance);
        whether the rules changed."""
        return self._set(scale)

    def _set(self, scale: float) -> bool:
        config = self._config
        self.scale = min(max(scale, config.floor), config.ceiling)
        rules = self._scaled(self.scale)
        if rules == self._rules:
            return False
        self._rules = rules
        return True

    def _scaled(self, scale: float) -> ScaledRules:
        limits = tuple(max(1, math.floor(rule.limit * scale)) for rule in self._base.rules)
        return limits, self._base.min_interval / scale

    def __repr__(self) -> str:
        return (
            f"<AdaptiveRate [scale {self.scale:.3f} of the configured budget, "
            f"{self.rate * 60:.1f}/min | decreases: {self.decreases}]>"
        )
