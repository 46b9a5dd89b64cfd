"""recobeat-engine: call a rate-limited upstream as fast as it allows, and never faster.

The public surface: :class:`Engine` composes everything; the parts are usable on their own.
Everything is anyio, so it runs on asyncio and trio, in real time or, through
:func:`engine.virtual.run_virtual`, in virtual time.
"""

from engine.batching import chunked, map_bounded
from engine.breaker import BreakerConfig, BreakerStats, CircuitOpen
from engine.cache import (
    MISSING,
    Cache,
    CacheConfig,
    CacheStats,
    MemoryStore,
    Missing,
    NamespaceTtl,
    Store,
    TtlPolicy,
    cache_key,
)
from engine.clock import Clock, SystemClock, VirtualClock
from engine.config import Config, ConfigError, load_config
from engine.engine import Engine, EngineConfig, EngineStats, UpstreamTimeout
from engine.errors import EngineError
from engine.limits import (
    ConcurrencyConfig,
    ConcurrencyLimiter,
    RateLimitConfig,
    RateLimiter,
    RateLimitTimeout,
    RateSchedule,
    UpstreamGate,
    WindowRule,
)
from engine.retry import RateLimited, Retryable, RetryConfig, RetryPolicy
from engine.singleflight import SingleFlight, SingleFlightClosed

__all__ = [
    "MISSING",
    "BreakerConfig",
    "BreakerStats",
    "Cache",
    "CacheConfig",
    "CacheStats",
    "CircuitOpen",
    "Clock",
    "ConcurrencyConfig",
    "ConcurrencyLimiter",
    "Config",
    "ConfigError",
    "Engine",
    "EngineConfig",
    "EngineError",
    "EngineStats",
    "MemoryStore",
    "Missing",
    "NamespaceTtl",
    "RateLimitConfig",
    "RateLimitTimeout",
    "RateLimited",
    "RateLimiter",
    "RateSchedule",
    "RetryConfig",
    "RetryPolicy",
    "Retryable",
    "SingleFlight",
    "SingleFlightClosed",
    "Store",
    "SystemClock",
    "TtlPolicy",
    "UpstreamGate",
    "UpstreamTimeout",
    "VirtualClock",
    "WindowRule",
    "cache_key",
    "chunked",
    "load_config",
    "map_bounded",
]
