"""engine.metrics: Prometheus text by hand (and through prometheus_client), and event hooks."""

from __future__ import annotations

import anyio
import pytest

from engine import Engine, RateLimited
from engine.cache import CacheStats
from engine.cache.facade import NamespaceStats
from engine.clock import VirtualClock
from engine.engine import EngineStats
from engine.limits import ConcurrencyStats, RateLimiterStats
from engine.metrics import EngineHooks, instrument, prometheus_text, register
from engine.retry import RetryConfig
from engine.singleflight import SingleFlightStats
from tests.engine_configs import engine_config


def _ns(**kw: int) -> NamespaceStats:
    values = dict(
        hits=0, misses=0, negative_hits=0, evictions=0, expirations=0, size=0, hit_rate=0.0
    )
    values.update(kw)
    return NamespaceStats(**values)  # type: ignore[arg-type]


SMALL = EngineStats(
    upstream_attempts=3,
    rate_limited=1,
    retries={"RateLimited": 1},
    failures=0,
    rate=RateLimiterStats(
        granted=3,
        waited=1,
        total_wait=0.75,
        timeouts=0,
        max_queue=1,
        queue=0,
        busy_time=0.75,
        busy_periods=1,
        busy_grants=1,
    ),
    concurrency=ConcurrencyStats(limit=6, in_use=0, peak=2, waiting=0, acquired=3),
    flights=SingleFlightStats(calls=4, executions=2, shared=2, abandoned=0, in_flight=0),
    cache=CacheStats(
        namespaces={'tr"acks': _ns(hits=5, misses=2, size=2)},
        total=_ns(hits=5, misses=2, size=2),
        store_errors=0,
    ),
)


def test_exact_lines_for_a_small_stats_object() -> None:
    text = prometheus_text(SMALL, prefix="x")
    lines = text.splitlines()
    assert text.endswith("\n")
    for expected in [
        "# HELP x_upstream_attempts_total Attempts sent upstream.",
        "# TYPE x_upstream_attempts_total counter",
        "x_upstream_attempts_total 3",
        "x_rate_limited_total 1",
        'x_retries_total{error="RateLimited"} 1',
        "x_rate_wait_seconds_total 0.75",
        "# TYPE x_concurrency_in_use gauge",
        "x_concurrency_limit 6",
        "x_flight_shared_total 2",
        'x_cache_hits_total{namespace="tr\\"acks"} 5',
        'x_cache_size{namespace="tr\\"acks"} 2',
        "x_cache_store_errors_total 0",
    ]:
        assert expected in lines
    assert not any(line.startswith("x_tier") or "breaker" in line for line in lines)


def test_the_text_parses_with_prometheus_client() -> None:
    parser = pytest.importorskip("prometheus_client.parser")
    families = {f.name: f for f in parser.text_string_to_metric_families(prometheus_text(SMALL))}
    assert families["engine_upstream_attempts"].type == "counter"
    assert families["engine_upstream_attempts"].samples[0].value == 3
    (hits,) = families["engine_cache_hits"].samples
    assert hits.labels == {"namespace": 'tr"acks'} and hits.value == 5
    assert families["engine_concurrency_peak"].type == "gauge"


class Upstream:
    def __init__(self, fail_first: int = 0) -> None:
        self.calls = 0
        self.fail_first = fail_first

    async def fetch(self) -> str:
        self.calls += 1
        await anyio.sleep(1.0)
        if self.calls <= self.fail_first:
            raise RateLimited("429", retry_after=2.0)
        return "v"


@pytest.mark.anyio
async def test_register_reads_stats_at_scrape_time_and_matches_the_text() -> None:
    prometheus_client = pytest.importorskip("prometheus_client")
    registry = prometheus_client.CollectorRegistry()
    async with Engine(engine_config(), clock=VirtualClock()) as engine:
        register(engine, registry)
        assert registry.get_sample_value("engine_upstream_attempts_total") == 0
        await engine.cached("tracks", "a", Upstream().fetch)
        assert registry.get_sample_value("engine_upstream_attempts_total") == 1
        assert registry.get_sample_value("engine_cache_misses_total", {"namespace": "tracks"}) == 1
        ours = prometheus_text(engine.stats())
        theirs = prometheus_client.generate_latest(registry).decode()
    parser = prometheus_client.parser.text_string_to_metric_families

    def flat(text: str) -> set[tuple[object, ...]]:
        return {
            (f.name, f.type, s.name, tuple(sorted(s.labels.items())), s.value)
            for f in parser(text)
            for s in f.samples
        }

    assert flat(ours) == flat(theirs)


@pytest.mark.anyio
async def test_hooks_see_grants_waits_429s_cache_events_and_flights() -> None:
    grants: list[float] = []
    limited: list[None] = []
    cache: list[str] = []
    flights: list[str] = []
    hooks = EngineHooks(
        on_grant=grants.append,
        on_rate_limited=lambda: limited.append(None),
        on_cache=lambda e: cache.append(e.kind),
        on_flight=flights.append,
    )
    clock = VirtualClock()
    config = engine_config(retry=RetryConfig(attempts=3))
    upstream = Upstream(fail_first=1)
    async with Engine(config, clock=clock, **instrument(config, hooks, clock=clock)) as engine:
        async with anyio.create_task_group() as tg:
            for _ in range(3):
                tg.start_soon(engine.cached, "tracks", "a", upstream.fetch)
        assert await engine.cached("tracks", "a", upstream.fetch) == "v"
        stats = engine.stats()
    assert limited == [None] and stats.rate_limited == 1
    assert len(grants) == 2 and grants[0] == 0.0 and grants[1] > 0
    assert cache.count("miss") == 3 and cache.count("store") == 1 and cache.count("hit") == 1
    assert flights.count("started") == 1 and flights.count("joined") == 2
    assert hooks.errors == 0


@pytest.mark.anyio
async def test_a_hook_that_raises_is_counted_and_never_breaks_a_request(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def boom(*args: object) -> None:
        raise RuntimeError("hook")

    hooks = EngineHooks(on_grant=boom, on_cache=boom, on_flight=boom, on_rate_limited=boom)
    clock = VirtualClock()
    config = engine_config()
    async with Engine(config, clock=clock, **instrument(config, hooks, clock=clock)) as engine:
        assert await engine.cached("tracks", "a", Upstream().fetch) == "v"
        assert await engine.cached("tracks", "a", Upstream().fetch) == "v"
    assert hooks.errors >= 4
    assert len([r for r in caplog.records if r.name == "engine.metrics"]) == 1


@pytest.mark.anyio
async def test_without_hooks_instrument_changes_nothing() -> None:
    assert instrument(engine_config(), EngineHooks()) == {}
