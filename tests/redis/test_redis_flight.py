"""Cross-instance deduplication: two engines miss one key at once, one upstream call; a dead
holder's lock expires and the waiter fetches."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import pytest
from conftest import FAST, Tier

from engine import Engine, MemoryStore, RateLimitConfig
from engine.shared import DistributedFlight, RedisRateLimiter, RedisStore, TieredStore
from tests.engine_configs import RATE, engine_config

pytestmark = pytest.mark.anyio

CONFIG = engine_config(rate=RateLimitConfig(rules=RATE.rules, min_interval=0.0))


@asynccontextmanager
async def instance(tier: Tier) -> AsyncIterator[Engine]:
    """One engine as a process would run it: own connection pool, memory tier and flights."""
    async with tier.connect() as backend:
        store = TieredStore(
            MemoryStore(100, clock=tier.clock),
            RedisStore(backend, clock=tier.clock, config=FAST),
            clock=tier.clock,
            config=FAST,
        )
        async with Engine(
            CONFIG,
            clock=tier.clock,
            store=store,
            rate_limiter=RedisRateLimiter(backend, CONFIG.rate, clock=tier.clock, settings=FAST),
            flights=DistributedFlight(backend, store, clock=tier.clock, settings=FAST),
        ) as engine:
            yield engine


async def test_two_instances_missing_at_once_make_one_upstream_call(tier: Tier) -> None:
    calls = 0

    async def fetch() -> str:
        nonlocal calls
        calls += 1
        await anyio.sleep(0.1)
        return "rb-1"

    results: list[str] = []
    async with instance(tier) as a, instance(tier) as b:

        async def ask(engine: Engine) -> None:
            results.append(await engine.cached("ids", "sp1", fetch))

        async with anyio.create_task_group() as tg:
            for engine in (a, b, a, b):
                tg.start_soon(ask, engine)
        flights = [a.flights.stats(), b.flights.stats()]
    assert calls == 1 and results == ["rb-1"] * 4
    assert sorted(f.locked for f in flights) == [0, 1]  # type: ignore[attr-defined]
    assert sorted(f.answered_remotely for f in flights) == [0, 1]  # type: ignore[attr-defined]


async def test_a_dead_holder_delays_the_waiter_only_until_its_lock_expires(tier: Tier) -> None:
    calls = 0

    async def fetch() -> str:
        nonlocal calls
        calls += 1
        return "rb-1"

    async with tier.connect() as backend:
        # An instance took the lock and died before storing anything.
        assert await backend.set_if_absent(
            "test:lock:v1:ids:sp1", b"dead", ttl_ms=round(FAST.lock_ttl * 1000)
        )
    async with instance(tier) as engine:
        started = anyio.current_time()
        with anyio.fail_after(FAST.lock_ttl + 2):
            assert await engine.cached("ids", "sp1", fetch) == "rb-1"
        waited = anyio.current_time() - started
    assert calls == 1
    assert FAST.lock_ttl - 0.1 <= waited < FAST.lock_ttl + 1


async def test_a_failed_fetch_lets_the_waiter_fetch_itself(tier: Tier) -> None:
    calls = 0

    async def fetch() -> str:
        nonlocal calls
        calls += 1
        await anyio.sleep(0.05)
        if calls == 1:
            raise LookupError("upstream said no")
        return "rb-1"

    async with instance(tier) as a, instance(tier) as b:
        outcomes: list[object] = []

        async def ask(engine: Engine) -> None:
            try:
                outcomes.append(await engine.cached("ids", "sp1", fetch))
            except LookupError as exc:
                outcomes.append(exc)

        with anyio.fail_after(3):
            async with anyio.create_task_group() as tg:
                tg.start_soon(ask, a)
                await anyio.sleep(0.01)
                tg.start_soon(ask, b)
    assert calls == 2
    assert isinstance(outcomes[0], LookupError) and outcomes[1] == "rb-1"
