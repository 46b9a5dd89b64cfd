"""Configuration of the client-side limits, with the seed's tuned values as defaults."""

from __future__ import annotations

from engine.config import Config, ConfigError, NonNegative, Positive, PositiveInt

__all__ = ["ConcurrencyConfig", "RateLimitConfig", "WindowRule"]


class WindowRule(Config):
    """At most ``limit`` grants in any window of ``window`` seconds (half-open, anywhere)."""

    limit: PositiveInt
    window: Positive


class RateLimitConfig(Config):
    """Every rule holds at once. The default is the seed's: 80 per 60 s, 0.75 s apart."""

    rules: tuple[WindowRule, ...] = (WindowRule(limit=80, window=60.0),)
    min_interval: NonNegative = 0.75
    """Minimum seconds between two consecutive grants."""
    settle: NonNegative = 0.0
    """Seconds a request waits for simultaneous requests before the first is chosen. Replays
    set a microsecond so that the order among requests made at one virtual instant follows
    their keys, not the event loop's scheduling; 0 in production (no added latency)."""

    def validate(self) -> None:
        windows = [rule.window for rule in self.rules]
        if len(set(windows)) != len(windows):
            raise ConfigError(
                f"RateLimitConfig.rules: two rules share a window length ({sorted(windows)}); "
                "keep only the stricter one"
            )


class ConcurrencyConfig(Config):
    """The global bulkhead: at most ``limit`` upstream requests in flight (the seed: 6)."""

    limit: PositiveInt = 6
