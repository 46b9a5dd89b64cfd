"""The circuit breaker in the engine: virtual time, on asyncio and trio."""

from __future__ import annotations

import functools

import anyio
import msgspec
import pytest

from engine import (
    BreakerConfig,
    CircuitOpen,
    Engine,
    NamespaceTtl,
    RateLimited,
    Retryable,
    RetryConfig,
    VirtualClock,
)
from engine.cache import CacheConfig
from tests.engine_configs import TTL, engine_config

pytestmark = pytest.mark.anyio

BREAKER = BreakerConfig(failure_rate=0.5, window=60, min_calls=4, cooldown=30, probes=2)


class Upstream:
    """Fails while ``down`` is true; records the instant of every call."""

    def __init__(self, latency: float = 0.1) -> None:
        self.down = False
        self.latency = latency
        self.calls: list[float] = []
        self.error: BaseException = Retryable("503")

    async def __call__(self) -> str:
        self.calls.append(anyio.current_time())
        await anyio.sleep(self.latency)
        if self.down:
            raise self.error
        return "value"


def config(**fields: object):  # type: ignore[no-untyped-def]
    values: dict[str, object] = {
        "breaker": BREAKER,
        "retry": RetryConfig(attempts=1),
        "rate": {"rules": [], "min_interval": 0.0},
    }
    values.update(fields)
    return engine_config(**values)


async def test_off_by_default_no_breaker_and_no_stats() -> None:
    upstream = Upstream()
    upstream.down = True
    async with Engine(engine_config(retry=RetryConfig(attempts=1)), clock=VirtualClock()) as e:
        for _ in range(20):
            with pytest.raises(Retryable):
                await e.upstream("k", upstream)
        assert e.breakers is None
        assert e.stats().breakers == {}
    assert len(upstream.calls) == 20


async def test_opens_fails_fast_probes_and_closes() -> None:
    upstream = Upstream()
    upstream.down = True
    async with Engine(config(), clock=VirtualClock(), seed=1) as engine:
        for _ in range(4):
            with pytest.raises(Retryable):
                await engine.upstream("k", upstream, endpoint="/a")
        assert engine.stats().breakers["/a"].state == "open"
        started = anyio.current_time()
        for _ in range(50):
            with pytest.raises(CircuitOpen) as refused:
                await engine.upstream("k", upstream, endpoint="/a")
        assert anyio.current_time() == started  # failing fast takes no time
        assert 29 < refused.value.retry_after <= 30
        assert len(upstream.calls) == 4  # nothing sent while open
        # Another endpoint has its own circuit.
        upstream.down = False
        assert await engine.upstream("k", upstream, endpoint="/b") == "value"
        await anyio.sleep(30)
        assert await engine.upstream("k", upstream, endpoint="/a") == "value"  # a probe
        assert engine.stats().breakers["/a"].state == "half_open"
        assert await engine.upstream("k", upstream, endpoint="/a") == "value"
        stats = engine.stats().breakers["/a"]
        assert stats.state == "closed"
        assert stats.opened == 1
        assert stats.failed_fast == 50
        assert stats.transitions == {
            "closed->open": 1,
            "half_open->closed": 1,
            "open->half_open": 1,
        }
        assert engine.stats().failures == 54


async def test_retries_stop_at_an_open_circuit() -> None:
    upstream = Upstream()
    upstream.down = True
    retry = RetryConfig(attempts=8, base_delay=1.0, max_delay=10.0, jitter=0.0)
    async with Engine(config(retry=retry), clock=VirtualClock(), seed=1) as engine:
        started = anyio.current_time()
        with pytest.raises(CircuitOpen):
            await engine.upstream("k", upstream, endpoint="/a")
        # Four failures opened it; the fifth attempt was refused instead of sent.
        assert len(upstream.calls) == 4
        assert anyio.current_time() - started == pytest.approx(1 + 2 + 4 + 0.4)
        assert engine.stats().failure_seconds == pytest.approx(anyio.current_time() - started)


async def test_a_half_open_circuit_lets_only_its_probes_through() -> None:
    upstream = Upstream(latency=5.0)
    upstream.down = True
    async with Engine(config(), clock=VirtualClock(), seed=1) as engine:
        for _ in range(4):
            with pytest.raises(Retryable):
                await engine.upstream("k", upstream, endpoint="/a")
        await anyio.sleep(30)
        upstream.down = False
        outcomes: list[str] = []

        async def call() -> None:
            try:
                outcomes.append(await engine.upstream("k", upstream, endpoint="/a"))
            except CircuitOpen:
                outcomes.append("refused")

        before = len(upstream.calls)
        async with anyio.create_task_group() as tg:
            for _ in range(6):
                tg.start_soon(call)
        assert len(upstream.calls) - before == 2
        assert sorted(outcomes) == ["refused"] * 4 + ["value"] * 2
        assert engine.stats().breakers["/a"].state == "closed"


async def test_a_cancelled_probe_gives_its_slot_back() -> None:
    upstream = Upstream(latency=5.0)
    upstream.down = True
    async with Engine(config(), clock=VirtualClock(), seed=1) as engine:
        for _ in range(4):
            with pytest.raises(Retryable):
                await engine.upstream("k", upstream, endpoint="/a")
        await anyio.sleep(30)
        upstream.down = False
        with anyio.move_on_after(1.0):  # both probes cancelled in flight
            async with anyio.create_task_group() as tg:
                for _ in range(2):
                    tg.start_soon(functools.partial(engine.upstream, endpoint="/a"), "k", upstream)
        circuit = engine.breakers.circuit("/a")  # type: ignore[union-attr]
        assert circuit.state == "half_open"
        assert circuit.refusal(anyio.current_time()) is None  # both slots back
        assert await engine.upstream("k", upstream, endpoint="/a") == "value"
        assert await engine.upstream("k", upstream, endpoint="/a") == "value"
        assert circuit.state == "closed"
        assert circuit.failures == 4 and circuit.successes == 2


async def test_429s_and_4xx_do_not_open_it() -> None:
    upstream = Upstream()
    upstream.down = True
    upstream.error = ValueError("400: the request was wrong")
    async with Engine(config(), clock=VirtualClock(), seed=1) as engine:
        for _ in range(10):
            with pytest.raises(ValueError):
                await engine.upstream("k", upstream, endpoint="/a")
        upstream.error = RateLimited("429", retry_after=0.0)
        for _ in range(10):
            with pytest.raises(RateLimited):
                await engine.upstream("k", upstream, endpoint="/a")
        stats = engine.stats().breakers["/a"]
        assert stats.state == "closed" and stats.opened == 0
        assert stats.successes == 10 and stats.failures == 0


async def test_unnamed_calls_share_one_circuit() -> None:
    upstream = Upstream()
    upstream.down = True
    async with Engine(config(), clock=VirtualClock(), seed=1) as engine:
        for key in "abcd":
            with pytest.raises(Retryable):
                await engine.upstream(key, upstream)
        with pytest.raises(CircuitOpen):
            await engine.deduplicated("e", upstream)
        assert list(engine.stats().breakers) == ["upstream"]


async def test_an_open_circuit_serves_stale_values_where_the_namespace_allows() -> None:
    upstream = Upstream()
    ttl = {
        **TTL,
        "tracks": NamespaceTtl(ttl=60, stale_ttl=600),
        "artists": NamespaceTtl(ttl=60),
    }
    breaker = msgspec.structs.replace(BREAKER, cooldown=3600.0)
    cfg = config(cache=CacheConfig(ttl=ttl), breaker=breaker)
    async with Engine(cfg, clock=VirtualClock(), seed=1) as engine:
        assert await engine.cached("tracks", "t1", upstream, endpoint="/a") == "value"
        assert await engine.cached("artists", "a1", upstream, endpoint="/a") == "value"
        await anyio.sleep(61)
        upstream.down = True
        for key in "wxyz":
            with pytest.raises(Retryable):
                await engine.cached("tracks", key, upstream, endpoint="/a")
        # Open: the expired track is served stale, the artist (no stale_ttl) is refused.
        assert await engine.cached("tracks", "t1", upstream, endpoint="/a") == "value"
        with pytest.raises(CircuitOpen):
            await engine.cached("artists", "a1", upstream, endpoint="/a")
        await anyio.sleep(600)  # past expiry + stale_ttl: refused too
        with pytest.raises(CircuitOpen):
            await engine.cached("tracks", "t1", upstream, endpoint="/a")
        stats = engine.stats().breakers["/a"]
        assert stats.stale_answers == 1
        assert stats.failed_fast == 3
