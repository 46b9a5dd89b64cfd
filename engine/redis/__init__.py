"""The shared tier on a real Redis: two adapters of :class:`engine.shared.SharedBackend`.

:class:`CoredisBackend` (coredis, the ``redis`` extra; asyncio and trio) is the default, the
one the shared store, limiter and flight (re-exported here) use in production;
:class:`RedisConfig` says how to reach it. :class:`RedisPyBackend` (redis-py, the ``redispy``
extra; asyncio only) runs the same tier, with the same scripts, on a ``redis.asyncio.Redis``
pool the application already holds. Each adapter is imported when first asked for, so this
package imports with either client installed; asking for one whose client is missing raises a
one-line ``ModuleNotFoundError`` naming its extra.
"""

from typing import TYPE_CHECKING

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

if TYPE_CHECKING:
    from engine.redis.backend import CoredisBackend
    from engine.redis.redispy import RedisPyBackend

__all__ = [
    "DEFAULT_URL",
    "RATE_SCRIPT",
    "CoredisBackend",
    "DistributedFlight",
    "RedisConfig",
    "RedisPyBackend",
    "RedisRateLimiter",
    "RedisStore",
    "SharedTierConfig",
    "TieredStore",
    "TypeRegistry",
]


def __getattr__(name: str) -> object:
    # The adapters' clients are optional: each is imported only when its adapter is asked for.
    if name == "CoredisBackend":
        try:
            from engine.redis.backend import CoredisBackend
        except ModuleNotFoundError as exc:  # pragma: no cover - exercised by test_packaging
            if exc.name != "coredis":
                raise
            raise ModuleNotFoundError(
                "CoredisBackend needs coredis: pip install 'recobeat-engine[redis]'",
                name="coredis",
            ) from None
        globals()[name] = CoredisBackend
        return CoredisBackend
    if name == "RedisPyBackend":
        from engine.redis.redispy import RedisPyBackend  # raises its own one-line error

        globals()[name] = RedisPyBackend
        return RedisPyBackend
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
