"""The shared tier on a real Redis (coredis; the ``redis`` extra).

:class:`CoredisBackend` is the :class:`engine.shared.SharedBackend` the shared store, limiter
and flight (re-exported here) use in production; :class:`RedisConfig` says how to reach it.
"""

try:
    from engine.redis.backend import CoredisBackend
except ModuleNotFoundError as exc:  # pragma: no cover - exercised by the plain-install check
    if exc.name != "coredis":
        raise
    raise ModuleNotFoundError(
        "the Redis tier needs coredis: pip install 'recobeat-engine[redis]'", name="coredis"
    ) from None
from engine.redis.config import DEFAULT_URL, RedisConfig
from engine.redis.script import RATE_SCRIPT
from engine.shared import (
    DistributedFlight,
    RedisRateLimiter,
    RedisStore,
    SharedTierConfig,
    TieredStore,
    TypeRegistry,
)

__all__ = [
    "DEFAULT_URL",
    "RATE_SCRIPT",
    "CoredisBackend",
    "DistributedFlight",
    "RedisConfig",
    "RedisRateLimiter",
    "RedisStore",
    "SharedTierConfig",
    "TieredStore",
    "TypeRegistry",
]
