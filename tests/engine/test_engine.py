"""The composed engine: cache, singleflight, gate and retries around one upstream call."""

from __future__ import annotations

import itertools

import anyio
import msgspec
import pytest

from engine import (
    MISSING,
    ConfigError,
    Engine,
    EngineConfig,
    RateLimitConfig,
    RateLimited,
    Retryable,
    RetryConfig,
    UpstreamTimeout,
    VirtualClock,
    load_config,
)
from engine.cache import NamespaceTtl, UnknownNamespaceError
from engine.limits import RateLimiter
from tests.engine_configs import engine_config

pytestmark = pytest.mark.anyio


class FakeUpstream:
    """Records the instant of every call; answers from a script of outcomes."""

    def __init__(self, *outcomes: object, latency: float = 0.2) -> None:
        self.outcomes = list(outcomes)
        self.latency = latency
        self.calls: list[float] = []

    async def __call__(self) -> object:
        self.calls.append(anyio.current_time())
        await anyio.sleep(self.latency)
        outcome = self.outcomes.pop(0) if self.outcomes else "value"
        if isinstance(outcome, BaseException):
            raise outcome
        if outcome == "hang":
            await anyio.sleep_forever()
        return outcome


async def test_identical_concurrent_misses_make_one_upstream_call_then_hit() -> None:
    upstream = FakeUpstream("tracks!")
    async with Engine(engine_config(), clock=VirtualClock(), seed=1) as engine:
        results: list[object] = []

        async def call() -> None:
            results.append(await engine.cached("tracks", "t1", upstream))

        async with anyio.create_task_group() as tg:
            for _ in range(20):
                tg.start_soon(call)
        assert await engine.cached("tracks", "t1", upstream) == "tracks!"
        stats = engine.stats()
    assert results == ["tracks!"] * 20
    assert len(upstream.calls) == 1
    assert stats.upstream_attempts == 1
    assert stats.cache.namespaces["tracks"].hits == 1
    assert stats.flights.shared == 19


async def test_distinct_keys_are_spaced_by_the_rate_limit() -> None:
    upstream = FakeUpstream()
    async with (
        Engine(engine_config(), clock=VirtualClock(), seed=1) as engine,
        anyio.create_task_group() as tg,
    ):
        for i in range(10):
            tg.start_soon(engine.cached, "tracks", f"t{i}", upstream)
    gaps = [b - a for a, b in itertools.pairwise(sorted(upstream.calls))]
    assert min(gaps) == pytest.approx(0.75)


async def test_429_pauses_everyone_for_retry_after_then_retries() -> None:
    upstream = FakeUpstream(RateLimited("429", retry_after=10))
    async with Engine(engine_config(), clock=VirtualClock(), seed=1) as engine:
        start = anyio.current_time()
        async with anyio.create_task_group() as tg:
            tg.start_soon(engine.cached, "tracks", "a", upstream)
            await anyio.sleep(0.01)
            tg.start_soon(engine.cached, "tracks", "b", upstream)
        stats = engine.stats()
    offsets = [round(t - start, 3) for t in upstream.calls]
    # "a" is told to wait 10 s; "b", granted at 0.75, is refused until the pause ends too.
    assert offsets[0] == 0
    assert all(t >= 10 for t in offsets[1:])
    assert len(offsets) == 3
    assert stats.rate_limited == 1
    assert stats.retries == {"RateLimited": 1}


async def test_timeouts_are_retried_then_reported_and_never_cached() -> None:
    config = engine_config(attempt_timeout=5, retry=RetryConfig(attempts=2, jitter=0))
    upstream = FakeUpstream("hang", "hang", "late value")
    async with Engine(config, clock=VirtualClock(), seed=1) as engine:
        with pytest.raises(UpstreamTimeout):
            await engine.cached("tracks", "t", upstream)
        assert engine.stats().failures == 1
        assert engine.gate.concurrency.stats().in_use == 0
        # The error was not cached: the next call goes upstream again.
        assert await engine.cached("tracks", "t", upstream) == "late value"
    assert len(upstream.calls) == 3


async def test_errors_reach_every_waiter_from_one_failing_call() -> None:
    upstream = FakeUpstream(ValueError("400 bad request"))
    async with Engine(engine_config(), clock=VirtualClock(), seed=1) as engine:
        errors: list[BaseException] = []

        async def call() -> None:
            try:
                await engine.cached("tracks", "t", upstream)
            except ValueError as exc:
                errors.append(exc)

        async with anyio.create_task_group() as tg:
            for _ in range(5):
                tg.start_soon(call)
    assert len(errors) == 5
    assert len(upstream.calls) == 1  # not retried (not Retryable) and shared


async def test_negative_results_cached_for_the_missing_ttl() -> None:
    upstream = FakeUpstream(MISSING, MISSING)
    async with Engine(engine_config(), clock=VirtualClock(), seed=1) as engine:
        assert await engine.cached("ids", "spotify:x", upstream) is MISSING
        await anyio.sleep(14 * 86400 - 1)
        assert await engine.cached("ids", "spotify:x", upstream) is MISSING
        assert len(upstream.calls) == 1
        await anyio.sleep(2)
        assert await engine.cached("ids", "spotify:x", upstream) is MISSING
    assert len(upstream.calls) == 2


async def test_cancelled_caller_releases_everything() -> None:
    upstream = FakeUpstream(latency=100)
    async with Engine(engine_config(), clock=VirtualClock(), seed=1) as engine:
        with anyio.move_on_after(1):
            await engine.cached("tracks", "t", upstream)
        await anyio.sleep(1)
        stats = engine.stats()
        assert stats.flights.in_flight == 0
        assert stats.concurrency.in_use == 0
        assert stats.rate.queue == 0


async def test_deduplicated_upstream_without_cache() -> None:
    upstream = FakeUpstream(Retryable("503"), "ok")
    async with Engine(engine_config(), clock=VirtualClock(), seed=1) as engine:
        async with anyio.create_task_group() as tg:
            for _ in range(3):
                tg.start_soon(engine.deduplicated, "search:abc", upstream)
        stats = engine.stats()
    assert len(upstream.calls) == 2  # one failure, one retry, shared by all three
    assert stats.retries == {"Retryable": 1}


async def test_stats_are_json() -> None:
    async with Engine(engine_config(), clock=VirtualClock(), seed=1) as engine:
        await engine.cached("tracks", {"ids": ["b", "a"]}, FakeUpstream())
        await engine.cached("tracks", {"ids": ["a", "b"]}, FakeUpstream())
        decoded = msgspec.json.decode(msgspec.json.encode(engine.stats()))
    assert decoded["cache"]["namespaces"]["tracks"]["hits"] == 1


def test_engine_config_loads_from_toml_and_names_bad_fields() -> None:
    config = load_config(
        b"""
        attempt_timeout = 10
        [rate]
        min_interval = 1.0
        rules = [{limit = 120, window = 60}]
        [cache.ttl.recommendations]
        ttl = 300
        """,
        EngineConfig,
    )
    assert config.rate == RateLimitConfig(rules=config.rate.rules, min_interval=1.0)
    assert config.rate.rules[0].limit == 120
    assert config.cache.ttl == {"recommendations": NamespaceTtl(ttl=300)}
    assert config.concurrency is None  # not stated: the engine refuses to run without it
    with pytest.raises(ConfigError, match=r"^EngineConfig\.concurrency: required"):
        Engine(config)
    with pytest.raises(ConfigError, match=r"\$\.rate\.rules\[0\]\.window"):
        load_config(b"[rate]\nrules = [{limit = 1, window = 0}]", EngineConfig)
    with pytest.raises(ConfigError, match="missing required field `min_interval`"):
        load_config(b"[rate]\nrules = []", EngineConfig)


def test_the_engine_runs_only_with_the_upstreams_limits() -> None:
    with pytest.raises(ConfigError, match=r"^EngineConfig\.rate: required"):
        Engine(EngineConfig(concurrency={"limit": 1}))
    with pytest.raises(ConfigError, match=r"^EngineConfig\.concurrency: required"):
        Engine(EngineConfig(rate={"rules": [], "min_interval": 1}))
    # A rate limiter handed in replaces the configured rate.
    limiter = RateLimiter(engine_config().rate, clock=VirtualClock())
    engine = Engine(EngineConfig(concurrency={"limit": 1}), rate_limiter=limiter)
    assert engine.rate is limiter


async def test_an_engine_caches_a_namespace_declared_only_in_its_config() -> None:
    config = load_config(
        b"""
        [rate]
        rules = [{limit = 10, window = 1}]
        min_interval = 0
        [concurrency]
        limit = 2
        [cache.ttl.albums]
        ttl = 60
        [cache.default_ttl]
        ttl = 5
        """,
        EngineConfig,
    )
    upstream = FakeUpstream()
    async with Engine(config, clock=VirtualClock(), seed=1) as engine:
        assert await engine.cached("albums", "a1", upstream) == await engine.cached(
            "albums", "a1", upstream
        )
        await engine.cached("playlists", "p1", upstream)  # covered by the default
        await anyio.sleep(30)
        await engine.cached("albums", "a1", upstream)  # fresh for 60 s
        await engine.cached("playlists", "p1", upstream)  # stale after 5 s
        stats = engine.stats().cache.namespaces
    assert len(upstream.calls) == 3
    assert (stats["albums"].hits, stats["albums"].misses) == (2, 1)
    assert (stats["playlists"].hits, stats["playlists"].misses) == (0, 2)
    async with Engine(engine_config(), clock=VirtualClock(), seed=1) as undeclared:
        with pytest.raises(UnknownNamespaceError, match=r"'albums' \(declared: rec"):
            await undeclared.cached("albums", "a1", upstream)


async def test_stats_include_the_shared_tier() -> None:
    from engine.cache import MemoryStore
    from engine.shared import InProcessRedis, RedisStore, SharedTierConfig, TieredStore

    clock = VirtualClock()
    twin = InProcessRedis(clock=clock)
    tier = SharedTierConfig(time_source="client")

    def store() -> TieredStore:
        shared = RedisStore(twin, clock=clock, config=tier)
        return TieredStore(MemoryStore(clock=clock), shared, clock=clock, config=tier)

    async with Engine(engine_config(), clock=clock, store=store(), seed=1) as first:
        await first.cached("tracks", "t", FakeUpstream("v"))
    async with Engine(engine_config(), clock=clock, store=store(), seed=2) as second:
        assert await second.cached("tracks", "t", FakeUpstream("other")) == "v"
        stats = msgspec.json.decode(msgspec.json.encode(second.stats()))
    assert stats["tiers"]["shared_hits"] == 1
    assert stats["shared_store"]["hits"] == 1


async def test_cached_checks_its_arguments_in_the_order_get_or_fetch_does() -> None:
    async def fetch() -> str:
        raise AssertionError("never called")

    async with Engine(engine_config(), clock=VirtualClock(), seed=1) as engine:
        with pytest.raises(UnknownNamespaceError):
            await engine.cached("no-such-namespace", 123, fetch)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="ttl"):
            await engine.cached("tracks", 123, fetch, ttl=-1)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="a cache key is a str or a mapping"):
            await engine.cached("tracks", 123, fetch)  # type: ignore[arg-type]
