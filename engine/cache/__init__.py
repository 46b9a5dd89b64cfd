"""TTL caches: per-namespace policy, canonical keys, stores and the :class:`Cache` facade."""

from engine.cache.facade import Cache, CacheStats, NamespaceStats
from engine.cache.keys import MAX_CANONICAL, cache_key, canonical, namespace_of
from engine.cache.memory import MemoryStore
from engine.cache.policy import (
    DAY,
    HOUR,
    MINUTE,
    CacheConfig,
    NamespaceTtl,
    TtlPolicy,
    UnknownNamespaceError,
)
from engine.cache.store import (
    MISSING,
    DeletesPrefix,
    Entry,
    Missing,
    NamespaceUsage,
    ReportsUsage,
    Store,
)

__all__ = [
    "DAY",
    "HOUR",
    "MAX_CANONICAL",
    "MINUTE",
    "MISSING",
    "Cache",
    "CacheConfig",
    "CacheStats",
    "DeletesPrefix",
    "Entry",
    "MemoryStore",
    "Missing",
    "NamespaceStats",
    "NamespaceTtl",
    "NamespaceUsage",
    "ReportsUsage",
    "Store",
    "TtlPolicy",
    "UnknownNamespaceError",
    "cache_key",
    "canonical",
    "namespace_of",
]
