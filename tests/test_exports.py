"""Each public package's ``__all__`` is pinned here: a name added, renamed or dropped is a change
to the public API and must be made here too, on purpose (the idea of trio's ``test_exports``).

For every package: ``__all__`` holds exactly the pinned names, has no duplicates, every name in
it exists, and the namespace holds no public name that is neither exported, nor a submodule,
nor one of the deliberate exceptions below (an import that leaked into the API by accident).
"""

from __future__ import annotations

import importlib
import types

import pytest

PINNED: dict[str, list[str]] = {
    "engine": [
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
        "MISSING",
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
    ],
    "engine.cache": [
        "Cache",
        "CacheConfig",
        "CacheStats",
        "DAY",
        "DeletesPrefix",
        "Entry",
        "HOUR",
        "MAX_CANONICAL",
        "MINUTE",
        "MISSING",
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
    ],
    "engine.limits": [
        "ConcurrencyConfig",
        "ConcurrencyLimiter",
        "ConcurrencyStats",
        "MAX_PAUSE",
        "RateLimitConfig",
        "RateLimitTimeout",
        "RateLimiter",
        "RateLimiterStats",
        "RateLimiting",
        "RateSchedule",
        "UpstreamGate",
        "WindowRule",
    ],
    "engine.testing": [
        "BACKENDS",
        "Backend",
        "VirtualClock",
        "VirtualTimeDeadlock",
        "backend_options",
        "run_virtual",
    ],
    "engine.redis": [
        "CoredisBackend",
        "DEFAULT_URL",
        "DistributedFlight",
        "RATE_SCRIPT",
        "RedisConfig",
        "RedisPyBackend",
        "RedisRateLimiter",
        "RedisStore",
        "SharedTierConfig",
        "TieredStore",
        "TypeRegistry",
    ],
    # recobeat re-exports nothing: its API is its modules (recobeat.client, recobeat.config...).
    "recobeat": [],
    "simulator": [
        "Allowed",
        "Artist",
        "AudioFeatures",
        "Catalog",
        "CatalogConfig",
        "Content",
        "DirectTransport",
        "ENDPOINTS",
        "EndpointProfile",
        "Exchange",
        "FEATURE_NAMES",
        "Fault",
        "FaultPlan",
        "FaultRates",
        "FaultWindow",
        "LatencyModel",
        "Page",
        "PenaltyBox",
        "RateLimitConfig",
        "RateLimitPhase",
        "RateLimitRule",
        "RecoBeatApi",
        "RecoBeatSimulator",
        "Rejected",
        "Request",
        "RequestLog",
        "RequestRecord",
        "Response",
        "SeedPool",
        "SimulatorApp",
        "SimulatorConfig",
        "SimulatorTransport",
        "Track",
        "UpstreamRateLimit",
        "serve_http",
    ],
}

# Public names in a package's namespace that are deliberately not exported.
NOT_EXPORTED: dict[str, set[str]] = {
    # The lazy imports of the two adapters (their clients are extras) are typed through it.
    "engine.redis": {"TYPE_CHECKING"},
    # The lazy import of serve_http (hypercorn is an extra) needs these at module level.
    "simulator": {"Any", "TYPE_CHECKING"},
}

# engine.redis imports its adapters when asked for: checking its names needs both clients
# (coredis, the redis extra; redis-py, the redispy extra).
NEEDS = {"engine.redis": ("coredis", "redis")}


def _import(name: str) -> types.ModuleType:
    for needed in NEEDS.get(name, ()):
        pytest.importorskip(needed)
    return importlib.import_module(name)


@pytest.mark.parametrize("name", sorted(PINNED))
def test_all_is_pinned(name: str) -> None:
    assert PINNED[name] == sorted(PINNED[name]), "keep the pinned list sorted"
    module = _import(name)
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{name} has no __all__"
    assert sorted(exported) == PINNED[name]


@pytest.mark.parametrize("name", sorted(PINNED))
def test_all_has_no_duplicates(name: str) -> None:
    exported = list(_import(name).__all__)
    assert sorted({n for n in exported if exported.count(n) > 1}) == []


@pytest.mark.parametrize("name", sorted(PINNED))
def test_every_exported_name_exists(name: str) -> None:
    module = _import(name)
    assert [n for n in module.__all__ if not hasattr(module, n)] == []


@pytest.mark.parametrize("name", sorted(PINNED))
def test_no_public_name_escapes_all(name: str) -> None:
    module = _import(name)
    exported = set(module.__all__)
    allowed = NOT_EXPORTED.get(name, set())
    escaped = []
    for attr, value in vars(module).items():
        if attr.startswith("_") or attr in exported or attr in allowed:
            continue
        if isinstance(value, types.ModuleType) and value.__name__ == f"{name}.{attr}":
            continue  # a submodule, bound by its own import
        if type(value).__module__ == "__future__":
            continue  # `from __future__ import annotations`
        escaped.append(attr)
    assert sorted(escaped) == []


def test_the_exceptions_are_still_needed() -> None:
    stale = {
        name: sorted(attr for attr in attrs if not hasattr(_import(name), attr))
        for name, attrs in NOT_EXPORTED.items()
    }
    assert {name: attrs for name, attrs in stale.items() if attrs} == {}
