"""Client-side limits: how fast (rate) and how many at once (concurrency)."""

from engine.limits.capacity import ConcurrencyLimiter, ConcurrencyStats
from engine.limits.config import ConcurrencyConfig, RateLimitConfig, WindowRule
from engine.limits.gate import UpstreamGate
from engine.limits.protocol import RateLimiting
from engine.limits.rate import RateLimiter, RateLimiterStats, RateLimitTimeout
from engine.limits.schedule import MAX_PAUSE, RateSchedule

__all__ = [
    "MAX_PAUSE",
    "ConcurrencyConfig",
    "ConcurrencyLimiter",
    "ConcurrencyStats",
    "RateLimitConfig",
    "RateLimitTimeout",
    "RateLimiter",
    "RateLimiterStats",
    "RateLimiting",
    "RateSchedule",
    "UpstreamGate",
    "WindowRule",
]
