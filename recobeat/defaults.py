"""RecoBeat's engine settings: the design note's tuned numbers, the defaults of the client.

The engine knows no upstream; these are what the MoodList backend's "Backend Performance
Optimizations" note (the *design note*) settled on for ReccoBeats after tuning, and what a
:class:`~recobeat.config.ClientConfig` starts from:

=================  ============  ====================
namespace          ttl           missing_ttl
=================  ============  ====================
recommendations    15 minutes    not cached
tracks             2 hours       not cached
audio_features     2 hours       not cached
ids                60 days       14 days
artists            1 hour        not cached
seeds              2 hours       not cached
=================  ============  ====================

and a budget of 80 requests in any 60 s, 0.75 s apart, with at most 6 in flight. RecoBeat does
not publish its limit; these numbers are a budget the design note found safe, not the upstream's.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from engine import CacheConfig, EngineConfig, NamespaceTtl, RateLimitConfig, WindowRule
from engine.cache import DAY, HOUR, MINUTE
from engine.limits import ConcurrencyConfig

__all__ = ["PREWARM_QUIET", "TTL_TABLE", "TUNED_CONCURRENCY", "TUNED_RATE", "tuned_engine_config"]

#: 80 requests in any 60 s, and 0.75 s between two.
TUNED_RATE = RateLimitConfig(rules=(WindowRule(limit=80, window=60.0),), min_interval=0.75)
#: At most 6 requests in flight.
TUNED_CONCURRENCY = ConcurrencyConfig(limit=6)

#: Seconds without an interactive request served before pre-warming may use the budget
#: (RecoBeatClient.prewarm): longer than the pause between the steps of one playlist
#: generation (an answer and the client's work, about a second), so a generation in progress
#: keeps the budget to itself.
PREWARM_QUIET = 5.0
#: The client's cache namespaces and their TTLs (the table above). The client needs each of
#: them: a configuration that leaves one out gets it from here (see ``ClientConfig``).
TTL_TABLE: Mapping[str, NamespaceTtl] = MappingProxyType(
    {
        "recommendations": NamespaceTtl(ttl=15 * MINUTE),
        "tracks": NamespaceTtl(ttl=2 * HOUR),
        "audio_features": NamespaceTtl(ttl=2 * HOUR),
        "ids": NamespaceTtl(ttl=60 * DAY, missing_ttl=14 * DAY),
        "artists": NamespaceTtl(ttl=HOUR),
        "seeds": NamespaceTtl(ttl=2 * HOUR),
    }
)


def tuned_engine_config() -> EngineConfig:
    """An :class:`~engine.EngineConfig` with all of RecoBeat's tuned settings (start here and
    ``msgspec.structs.replace`` what you change)."""
    return EngineConfig(
        rate=TUNED_RATE, concurrency=TUNED_CONCURRENCY, cache=CacheConfig(ttl=dict(TTL_TABLE))
    )
