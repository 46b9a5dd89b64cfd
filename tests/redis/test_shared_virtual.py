"""The in-process twin in virtual time: what a replay of several instances relies on."""

from __future__ import annotations

import itertools
from typing import Any

import anyio
import pytest

from engine import Engine, MemoryStore, VirtualClock
from engine.shared import (
    DistributedFlight,
    InProcessRedis,
    RedisRateLimiter,
    RedisStore,
    SharedTierConfig,
    TieredStore,
)
from engine.virtual import BACKENDS, backend_options
from tests.engine_configs import engine_config

pytestmark = pytest.mark.anyio

SETTINGS = SharedTierConfig(time_source="client")


@pytest.fixture(params=BACKENDS)
def anyio_backend(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
    """Virtual time again (this directory's conftest switches to real time)."""
    return request.param, backend_options(request.param, seed=0)


async def test_three_instances_share_the_budget_and_the_fetches_in_virtual_time() -> None:
    clock = VirtualClock()
    shared = InProcessRedis(clock=clock)
    grants: list[float] = []
    calls: list[str] = []

    async def fetch(key: str) -> str:
        calls.append(key)
        await anyio.sleep(0.2)
        return key.upper()

    async def instance(results: list[str]) -> None:
        config = engine_config()
        store = TieredStore(
            MemoryStore(clock=clock), RedisStore(shared, clock=clock), clock=clock, config=SETTINGS
        )
        limiter = RedisRateLimiter(
            shared, config.rate, clock=clock, settings=SETTINGS, on_grant=grants.append
        )
        flights = DistributedFlight(shared, store, clock=clock, settings=SETTINGS)
        async with Engine(
            config, clock=clock, store=store, rate_limiter=limiter, flights=flights
        ) as engine:
            for key in [f"k{i}" for i in range(6)]:
                results.append(await engine.cached("ids", key, lambda key=key: fetch(key)))

    per_instance: list[list[str]] = [[], [], []]
    with anyio.fail_after(3600):
        async with anyio.create_task_group() as tg:
            for results in per_instance:
                tg.start_soon(instance, results)
    assert per_instance == [[f"K{i}" for i in range(6)]] * 3
    assert sorted(calls) == [f"k{i}" for i in range(6)]  # one upstream call per key
    gaps = [round(b - a, 3) for a, b in itertools.pairwise(grants)]
    assert len(grants) == 6 and min(gaps) >= 0.75


@pytest.mark.parametrize("fetch_seconds", [1.0, 25.0])
async def test_a_fetch_longer_than_the_lock_ttl_keeps_its_lock(fetch_seconds: float) -> None:
    """A holder that waits (rate limiter queue, slow upstream) beyond ``lock_ttl`` renews its
    lock, so another instance that misses meanwhile waits instead of fetching again."""
    clock = VirtualClock()
    shared = InProcessRedis(clock=clock)
    calls: list[float] = []

    async def slow() -> str:
        calls.append(anyio.current_time())
        await anyio.sleep(fetch_seconds)  # lock_ttl is 10 s; an attempt may take 30 s
        return "value"

    def engine() -> Engine:
        store = TieredStore(
            MemoryStore(clock=clock), RedisStore(shared, clock=clock), clock=clock, config=SETTINGS
        )
        flights = DistributedFlight(shared, store, clock=clock, settings=SETTINGS)
        return Engine(engine_config(), clock=clock, store=store, flights=flights, seed=1)

    results: list[str] = []
    with anyio.fail_after(3600):
        async with engine() as first, engine() as second, anyio.create_task_group() as tg:

            async def ask(e: Engine, delay: float) -> None:
                await anyio.sleep(delay)
                results.append(await e.cached("tracks", "k", slow))

            tg.start_soon(ask, first, 0)
            tg.start_soon(ask, second, 0.5)
            tg.start_soon(ask, second, fetch_seconds - 0.5)
    assert results == ["value"] * 3
    assert len(calls) == 1
    # The lock is gone once the fetch ended.
    assert await shared.get_many([f"{SETTINGS.prefix}:lock:v1:tracks:k"]) == [None]


async def test_two_clients_sharing_a_store_look_each_id_up_once(make_simulator) -> None:  # type: ignore[no-untyped-def]
    """Overlapping ID conversions on two instances at once: every Spotify ID, known to RecoBeat
    or not, reaches the upstream once across both (KeyClaims + the shared ID registry)."""
    from recobeat.cache_types import recobeat_types
    from recobeat.client import RecoBeatClient
    from recobeat.config import ClientConfig, HttpConfig
    from simulator import SeedPool, SimulatorTransport
    from simulator.upstream.api import parse_query

    clock = VirtualClock()
    shared = InProcessRedis(clock=clock)
    sim = make_simulator()
    pool = SeedPool(sim.catalog, size=60, unknown_share=0.3, seed=5)
    users = [pool.draw(f"user-{u}", 20) for u in range(6)]

    async def instance(name: str, seeds: list[list[str]]) -> None:
        store = TieredStore(
            MemoryStore(clock=clock),
            RedisStore(shared, clock=clock, registry=recobeat_types(), config=SETTINGS),
            clock=clock,
            config=SETTINGS,
        )
        flights = DistributedFlight(shared, store, clock=clock, settings=SETTINGS)
        config = ClientConfig(http=HttpConfig(base_url="http://sim", client_id=name))
        async with (
            Engine(config.engine, clock=clock, store=store, flights=flights, seed=1) as engine,
            RecoBeatClient(config, engine=engine, transport=SimulatorTransport(sim)) as client,
            anyio.create_task_group() as tg,
        ):
            for user_seeds in seeds:
                tg.start_soon(client.convert_ids, user_seeds)

    with anyio.fail_after(3600):
        async with anyio.create_task_group() as tg:
            tg.start_soon(instance, "a", users[:3])
            tg.start_soon(instance, "b", users[3:])
    sent = [i for r in sim.log for i in parse_query(r.params).get("ids", [])]
    assert sorted(sent) == sorted({s for seeds in users for s in seeds})
    assert {r.client for r in sim.log} == {"a", "b"}
