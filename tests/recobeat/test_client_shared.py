"""RecoBeatClient(shared=...): the client's engine shares its cache, its rate budget and its
fetches in flight through a shared backend (Engine.sharing); virtual time, both backends."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import anyio
import msgspec
import pytest

from engine import Engine, VirtualClock
from engine.shared import DistributedFlight, InProcessRedis, RedisRateLimiter, TieredStore
from recobeat.cache_types import recobeat_types
from recobeat.client import RecoBeatClient
from recobeat.config import ClientConfig, HttpConfig
from simulator import RecoBeatSimulator, SimulatorTransport

pytestmark = pytest.mark.anyio


def config(name: str) -> ClientConfig:
    return msgspec.structs.replace(
        ClientConfig(), http=HttpConfig(base_url="http://recobeat.test", client_id=name)
    )


async def test_two_clients_on_one_redis_share_cache_budget_and_flights(
    make_simulator: Callable[..., RecoBeatSimulator],
) -> None:
    sim = make_simulator()
    clock = VirtualClock()
    redis = InProcessRedis(clock=clock)
    ids = [sim.catalog.spotify_id(i) for i in range(30)]
    async with (
        RecoBeatClient(
            config("a"), shared=redis, transport=SimulatorTransport(sim), clock=clock, seed=1
        ) as a,
        RecoBeatClient(
            config("b"), shared=redis, transport=SimulatorTransport(sim), clock=clock, seed=2
        ) as b,
    ):
        assert isinstance(a.engine.rate, RedisRateLimiter)
        assert isinstance(a.engine.flights, DistributedFlight)
        async with anyio.create_task_group() as tg:  # at once: one fetch across both
            tg.start_soon(a.audio_features_many, ids)
            tg.start_soon(b.audio_features_many, ids)
        sent = len(sim.log)
        assert sent == 1  # 30 IDs, one request, fetched by one instance for both
        assert await b.audio_features_many(ids) == await a.audio_features_many(ids)
        assert len(sim.log) == sent  # both answered from the shared tier or their own LRU
        # One budget: the two instances' grants are counted in one place.
        await a.recommendations([sim.catalog.track_uuid(1)], 5)
        await b.recommendations([sim.catalog.track_uuid(2)], 5)
        log = sorted(r.sent or r.arrival for r in sim.log)
        assert all(later - earlier >= 0.75 - 1e-3 for earlier, later in itertools.pairwise(log))


async def test_engine_sharing_builds_the_tier_and_refuses_bad_combinations() -> None:
    clock = VirtualClock()
    redis = InProcessRedis(clock=clock)
    engine = Engine.sharing(redis, ClientConfig().engine, registry=recobeat_types(), clock=clock)
    async with engine:
        assert isinstance(engine.cache.store, TieredStore)
    with pytest.raises(ValueError, match="engine or shared"):
        RecoBeatClient(ClientConfig(), engine=engine, shared=redis)


def test_sharing_needs_a_rate_and_a_transport_must_be_one() -> None:
    import msgspec as _msgspec

    from engine import ConfigError

    clock = VirtualClock()
    redis = InProcessRedis(clock=clock)
    no_rate = _msgspec.structs.replace(ClientConfig().engine, rate=None)
    with pytest.raises(ConfigError, match=r"EngineConfig\.rate"):
        Engine.sharing(redis, no_rate, clock=clock)
    with pytest.raises(TypeError, match=r"transport: a recobeat\.transport\.Transport"):
        RecoBeatClient(ClientConfig(), transport=object())  # type: ignore[arg-type]
