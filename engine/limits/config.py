"""Configuration of the client-side limits.

The engine knows no upstream, so the numbers have no defaults: a rate limit and a concurrency
limit are the upstream's (or the budget a team grants itself), and a configuration states them.
The one neutral default is ``settle`` (no added latency). RecoBeat's tuned numbers live with
its client (:mod:`recobeat.defaults`).
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from engine.config import Config, ConfigError, NonNegative, Positive, PositiveInt

__all__ = ["AdaptiveRateConfig", "ConcurrencyConfig", "RateLimitConfig", "WindowRule"]


class WindowRule(Config):
    """At most ``limit`` grants in any window of ``window`` seconds (half-open, anywhere)."""

    limit: PositiveInt
    window: Positive


class AdaptiveRateConfig(Config):
    """How the budget's rate adapts to the upstream's answers (see
    :mod:`engine.limits.adaptive`): shares of the configured budget, and its steps."""

    floor: Positive = 0.25
    """The lowest the rate goes, as a share of the configured budget."""
    ceiling: Positive = 2.0
    """The highest the rate goes, as a multiple of the configured budget."""
    decrease: Annotated[float, msgspec.Meta(gt=0, lt=1)] = 0.9
    """After a 429: this share of the lower of the current rate and the rate actually sent."""
    increase: NonNegative = 0.75
    """Requests a minute added in the first saturated minute after a decrease; the step
    doubles every further saturated minute without a 429."""

    def validate(self) -> None:
        if self.floor > self.ceiling:
            raise ConfigError(
                f"AdaptiveRateConfig.floor: {self.floor} is above the ceiling {self.ceiling}"
            )


class RateLimitConfig(Config):
    """Every rule holds at once: e.g. at most 80 grants in any 60 s, and 0.75 s between two.

    ``rules`` may be empty (only the spacing applies) and ``min_interval`` 0 (only the windows
    apply); both empty and 0 is no rate limit, which a configuration must say explicitly.
    """

    rules: tuple[WindowRule, ...]
    min_interval: NonNegative
    """Minimum seconds between two consecutive grants."""
    adaptive: AdaptiveRateConfig | None = None
    """Learn the rate from the upstream's answers, starting from these rules (off: ``None``)."""
    settle: NonNegative = 0.0
    """Seconds a request waits for simultaneous requests before the first is chosen; leave it
    at 0 in production (no added latency). It exists for deterministic replays: in virtual
    time many requests are made at one instant, and their order would follow the event loop's
    scheduling, which differs between asyncio and trio. Waiting a microsecond lets them all
    arrive, then they are served in the order of their keys (the turnstile in
    :mod:`engine.limits.rate`), so a replay is the same on every event loop."""
    background_share: Annotated[float, msgspec.Meta(gt=0, le=0.5)] | None = None
    """Priority classes (:mod:`engine.limits.priority`), off with ``None`` (the default: one
    first-come, first-served line). When set, interactive requests go before background ones
    (refreshes ahead, pre-warming), first come, first served within a class, and while both
    wait, background gets this share of the grants (one in every ``round(1 / share)``), so it
    never starves. At most 0.5."""

    def validate(self) -> None:
        windows = [rule.window for rule in self.rules]
        if len(set(windows)) != len(windows):
            raise ConfigError(
                f"RateLimitConfig.rules: two rules share a window length ({sorted(windows)}); "
                "keep only the stricter one"
            )


class ConcurrencyConfig(Config):
    """The global bulkhead: at most ``limit`` upstream requests in flight."""

    limit: PositiveInt
