"""Engine settings for the engine's own tests, which must not depend on any upstream's layer.

The numbers are a stand-in upstream's (80 requests a minute, 0.75 s apart, 6 in flight, five
cache namespaces): the same as RecoBeat's tuned settings, so that expectations written against
them read the same in engine and client tests, but declared here, as any user of the engine
declares theirs.
"""

from __future__ import annotations

from typing import Any

from engine import CacheConfig, EngineConfig, NamespaceTtl, RateLimitConfig, TtlPolicy, WindowRule
from engine.cache import DAY, HOUR, MINUTE
from engine.limits import ConcurrencyConfig

RATE = RateLimitConfig(rules=(WindowRule(limit=80, window=60.0),), min_interval=0.75)
CONCURRENCY = ConcurrencyConfig(limit=6)
TTL = {
    "recommendations": NamespaceTtl(ttl=15 * MINUTE),
    "tracks": NamespaceTtl(ttl=2 * HOUR),
    "ids": NamespaceTtl(ttl=60 * DAY, missing_ttl=14 * DAY),
    "artists": NamespaceTtl(ttl=HOUR),
    "seeds": NamespaceTtl(ttl=2 * HOUR),
}
POLICY = TtlPolicy(namespaces=TTL)


def engine_config(**fields: Any) -> EngineConfig:
    """An :class:`EngineConfig` with the stand-in settings, any field replaced by ``fields``."""
    values: dict[str, Any] = {
        "rate": RATE,
        "concurrency": CONCURRENCY,
        "cache": CacheConfig(ttl=TTL),
    }
    values.update(fields)
    return EngineConfig(**values)
