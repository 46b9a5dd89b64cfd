"""Configuration of the client-side limits.

The engine knows no upstream, so the numbers have no defaults: a rate limit and a concurrency
limit are the upstream's (or the budget a team grants itself), and a configuration states them.
The one neutral default is ``settle`` (no added latency). RecoBeat's tuned numbers live with
its client (:mod:`recobeat.defaults`).
"""

from __future__ import annotations

from engine.config import Config, ConfigError, NonNegative, Positive, PositiveInt

__all__ = ["ConcurrencyConfig", "RateLimitConfig", "WindowRule"]


class WindowRule(Config):
    """At most ``limit`` grants in any window of ``window`` seconds (half-open, anywhere)."""

    limit: PositiveInt
    window: Positive


class RateLimitConfig(Config):
    """Every rule holds at once: e.g. at most 80 grants in any 60 s, and 0.75 s between two.

    ``rules`` may be empty (only the spacing applies) and ``min_interval`` 0 (only the windows
    apply); both empty and 0 is no rate limit, which a configuration must say explicitly.
    """

    rules: tuple[WindowRule, ...]
    min_interval: NonNegative
    """Minimum seconds between two consecutive grants."""
    settle: NonNegative = 0.0
    """Seconds a request waits for simultaneous requests before the first is chosen; leave it
    at 0 in production (no added latency). It exists for deterministic replays: in virtual
    time many requests are made at one instant, and their order would follow the event loop's
    scheduling, which differs between asyncio and trio. Waiting a microsecond lets them all
    arrive, then they are served in the order of their keys (the turnstile in
    :mod:`engine.limits.rate`), so a replay is the same on every event loop."""

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
