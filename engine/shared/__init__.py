"""State several engine instances share: a cache tier, a rate budget, in-flight fetches.

Everything here works over a :class:`SharedBackend`: a real Redis
(:class:`engine.redis.CoredisBackend`, or :class:`engine.redis.RedisPyBackend` on an
application's own redis-py pool) in production, or :class:`InProcessRedis`, its in-process
twin with the same semantics, in virtual-time replays and tests. Nothing here imports a Redis
client.
"""

from engine.limits.protocol import RateLimiting
from engine.shared.backend import RateDecision, SharedBackend, SharedTierUnavailable
from engine.shared.claims import KeyClaims
from engine.shared.codec import CorruptValue, EntryCodec, TypeRegistry
from engine.shared.config import SharedTierConfig
from engine.shared.flight import DistributedFlight, DistributedFlightStats
from engine.shared.inprocess import InProcessRedis
from engine.shared.latency import LatencyStats
from engine.shared.lease import Lease
from engine.shared.limiter import RedisRateLimiter, RedisRateLimiterStats, fallback_config
from engine.shared.rate_decision import RateState, decide
from engine.shared.store import RedisStore, RedisStoreStats
from engine.shared.tiered import TieredStore, TieredStoreStats

__all__ = [
    "CorruptValue",
    "DistributedFlight",
    "DistributedFlightStats",
    "EntryCodec",
    "InProcessRedis",
    "KeyClaims",
    "LatencyStats",
    "Lease",
    "RateDecision",
    "RateLimiting",
    "RateState",
    "RedisRateLimiter",
    "RedisRateLimiterStats",
    "RedisStore",
    "RedisStoreStats",
    "SharedBackend",
    "SharedTierConfig",
    "SharedTierUnavailable",
    "TieredStore",
    "TieredStoreStats",
    "TypeRegistry",
    "decide",
    "fallback_config",
]
