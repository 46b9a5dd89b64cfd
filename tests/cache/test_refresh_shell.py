"""Refreshing hot keys ahead of their expiry, and serving stale while one refresh runs: the
cache's anyio shell, in virtual time on both backends."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest

from engine import Engine
from engine.cache import Cache, MemoryStore, NamespaceTtl, TtlPolicy
from engine.clock import VirtualClock
from engine.exception_groups import OwnedTaskGroup
from engine.limits.priority import Priority, fetch_priority
from engine.singleflight import SingleFlight
from tests.engine_configs import engine_config

pytestmark = pytest.mark.anyio

TTL = 60.0


class Upstream:
    """A fetch taking ``delay`` seconds; returns ``v1``, ``v2``, ... or raises ``fail`` when
    set, and records the priority it ran at."""

    def __init__(self, delay: float = 1.0) -> None:
        self.delay = delay
        self.calls = 0
        self.fail: Exception | None = None
        self.priorities: list[Priority] = []

    async def __call__(self) -> Any:
        self.calls += 1
        self.priorities.append(fetch_priority())
        await anyio.sleep(self.delay)
        if self.fail is not None:
            raise self.fail
        return f"v{self.calls}"


def policy(**fields: Any) -> TtlPolicy:
    return TtlPolicy(namespaces={"hot": NamespaceTtl(ttl=TTL, **fields)})


@asynccontextmanager
async def open_cache(refresh: TtlPolicy, *, background: bool = True) -> AsyncIterator[Cache]:
    clock = VirtualClock()
    tasks = OwnedTaskGroup("the test's refreshes")
    async with SingleFlight() as flights:
        await tasks.open()
        try:
            yield Cache(
                MemoryStore(100, clock=clock),
                flights=flights,
                clock=clock,
                policy=refresh,
                background=tasks if background else None,
                seed=1,
            )
        finally:
            await tasks.close(None, None, None)


async def steady_load(cache: Cache, fetch: Upstream, *, seconds: float, every: float) -> list[Any]:
    """One caller every ``every`` seconds for ``seconds``, each its own task; their answers."""
    answers: list[Any] = []

    async def call() -> None:
        answers.append(await cache.get_or_fetch("hot", "key", fetch))

    async with anyio.create_task_group() as tg:
        for _ in range(round(seconds / every)):
            tg.start_soon(call)
            await anyio.sleep(every)
    return answers


async def test_a_hot_key_expires_without_a_burst_of_misses() -> None:
    # Ten callers a second for five TTLs, a fetch taking 1 s.
    fetch = Upstream(delay=1.0)
    async with open_cache(policy()) as cache:
        await steady_load(cache, fetch, seconds=5 * TTL, every=0.1)
        plain = cache.stats().namespaces["hot"]
    fetch = Upstream(delay=1.0)
    async with open_cache(policy(refresh_ahead=1.0)) as cache:
        await steady_load(cache, fetch, seconds=5 * TTL, every=0.1)
        ahead = cache.stats().namespaces["hot"]
    # Without: each expiry puts the callers of the next second on the miss path.
    assert plain.misses >= 5 * 10
    assert plain.miss_burst >= 10
    assert plain.expiry_miss_burst >= 10
    assert plain.refreshes == 0
    # With: only the cold start misses; every later value was fetched before it expired.
    cold = 10  # the callers of the first second, while the first fetch runs
    assert ahead.misses <= cold
    assert ahead.miss_burst <= cold
    assert ahead.expiry_miss_burst == 0
    assert ahead.refreshes == ahead.refreshes_succeeded >= 4
    assert ahead.refreshes_failed == 0
    assert ahead.hit_rate > plain.hit_rate
    # One fetch per value, as without: refreshing ahead costs no extra upstream calls here.
    assert fetch.calls == 1 + ahead.refreshes


async def test_the_refresh_runs_at_background_priority_off_the_callers_path() -> None:
    fetch = Upstream(delay=5.0)
    async with open_cache(policy(refresh_ahead=1.0)) as cache:
        assert await cache.get_or_fetch("hot", "key", fetch) == "v1"  # took 5 s
        await anyio.sleep(TTL - 0.5)  # 0.5 s left, the last fetch took 5 s: refresh
        while cache.stats().namespaces["hot"].refreshes == 0:
            # One draw per key and instant: the next hit comes a little later.
            await anyio.sleep(0.01)
            started = anyio.current_time()
            assert await cache.get_or_fetch("hot", "key", fetch) == "v1"
            assert anyio.current_time() == started  # the hit answered without waiting
        await anyio.sleep(6.0)
        assert await cache.get_or_fetch("hot", "key", fetch) == "v2"
    assert fetch.priorities == ["interactive", "background"]


async def test_a_miss_during_a_refresh_joins_it() -> None:
    fetch = Upstream(delay=10.0)
    async with open_cache(policy(refresh_ahead=1.0)) as cache:
        await cache.get_or_fetch("hot", "key", fetch)
        await anyio.sleep(TTL - 1)  # 1 s left, the fetch takes 10 s
        await cache.get_or_fetch("hot", "key", fetch)  # near-certain refresh
        assert cache.stats().namespaces["hot"].refreshes == 1
        await anyio.sleep(2)  # expired while the refresh runs
        assert await cache.get_or_fetch("hot", "key", fetch) == "v2"
        stats = cache.stats().namespaces["hot"]
    assert fetch.calls == 2  # the miss waited for the refresh's fetch: one fetch
    assert (stats.misses, stats.refreshes_succeeded) == (2, 1)


async def test_a_failing_refresh_keeps_the_old_value_until_it_expires() -> None:
    fetch = Upstream(delay=5.0)
    async with open_cache(policy(refresh_ahead=1.0)) as cache:
        await cache.get_or_fetch("hot", "key", fetch)
        fetch.fail = ConnectionError("upstream down")
        fetch.delay = 0.5  # fails fast; the last fetch's 5 s still sets the window
        await anyio.sleep(TTL - 5)
        while cache.stats().namespaces["hot"].refreshes_failed == 0:
            assert await cache.get_or_fetch("hot", "key", fetch) == "v1"
            await anyio.sleep(0.05)
        assert await cache.get_or_fetch("hot", "key", fetch) == "v1"
        await anyio.sleep(5)  # expired: a miss, which fails as the upstream does
        with pytest.raises(ConnectionError):
            await cache.get_or_fetch("hot", "key", fetch)
        stats = cache.stats().namespaces["hot"]
    assert stats.refreshes_succeeded == 0
    assert stats.refreshes == stats.refreshes_failed >= 1


async def test_serves_stale_while_one_refresh_runs() -> None:
    fetch = Upstream(delay=3.0)
    async with open_cache(policy(refresh_ahead=1.0, stale_ttl=10.0)) as cache:
        await cache.get_or_fetch("hot", "key", fetch)
        await anyio.sleep(TTL + 1)  # nobody looked near the expiry: no refresh yet
        before = anyio.current_time()
        answers = [await cache.get_or_fetch("hot", "key", fetch) for _ in range(5)]
        assert answers == ["v1"] * 5
        assert anyio.current_time() == before  # no caller waited
        await anyio.sleep(4)
        assert await cache.get_or_fetch("hot", "key", fetch) == "v2"
        await anyio.sleep(TTL + 10)  # past the stale window: a plain miss
        assert await cache.get_or_fetch("hot", "key", fetch) == "v3"
        stats = cache.stats().namespaces["hot"]
    assert fetch.calls == 3
    assert stats.stale_served == 5
    assert stats.refreshes == 1
    assert stats.misses == 1 + 5 + 1  # stale answers are misses: nothing fresh was found


async def test_stale_ttl_alone_serves_nothing_stale() -> None:
    # Without refresh_ahead, stale_ttl only keeps the value for a breaker (Cache.stale).
    fetch = Upstream(delay=1.0)
    async with open_cache(policy(stale_ttl=10.0)) as cache:
        await cache.get_or_fetch("hot", "key", fetch)
        await anyio.sleep(TTL + 1)
        assert await cache.get_or_fetch("hot", "key", fetch) == "v2"
        assert cache.stats().namespaces["hot"].stale_served == 0


async def test_without_a_background_group_nothing_is_refreshed() -> None:
    fetch = Upstream(delay=5.0)
    async with open_cache(policy(refresh_ahead=1.0, stale_ttl=10.0), background=False) as cache:
        await steady_load(cache, fetch, seconds=2 * TTL, every=1.0)
        stats = cache.stats().namespaces["hot"]
    assert (stats.refreshes, stats.stale_served) == (0, 0)
    assert stats.misses > 1


async def test_no_refresh_outlives_the_engine() -> None:
    config = engine_config()
    cache = config.cache
    ttl = {**cache.ttl, "hot": NamespaceTtl(ttl=TTL, refresh_ahead=1.0)}
    config = engine_config(cache=type(cache)(ttl=ttl))
    fetch = Upstream(delay=20.0)
    async with Engine(config, clock=VirtualClock(), seed=3) as engine:
        await engine.cached("hot", "key", fetch)
        await anyio.sleep(TTL - 1)
        await engine.cached("hot", "key", fetch)
        assert engine.cache.stats().namespaces["hot"].refreshes == 1
        await anyio.sleep(1)
        assert engine.flights.in_flight() == 1  # the refresh, still fetching
    assert engine.flights.in_flight() == 0
    stats = engine.stats().cache.namespaces["hot"]
    assert (stats.refreshes_succeeded, stats.refreshes_failed) == (0, 0)


async def test_replays_decide_the_same_way() -> None:
    async def run() -> tuple[int, ...]:
        fetch = Upstream(delay=2.0)
        async with open_cache(policy(refresh_ahead=2.0)) as cache:
            await steady_load(cache, fetch, seconds=4 * TTL, every=0.7)
            s = cache.stats().namespaces["hot"]
        return (s.hits, s.misses, s.refreshes, fetch.calls)

    assert await run() == await run()


async def test_across_instances_one_refresh_serves_every_instance() -> None:
    """Two instances over one shared tier (a TieredStore and a DistributedFlight each): the
    refresh ahead is answered only by a newer entry, so the hot key is refreshed (not found
    still fresh in the shared store and left to expire), once for both."""
    from contextlib import AsyncExitStack

    clock = VirtualClock()
    fetch = Upstream(delay=1.0)
    answers: list[Any] = []
    async with AsyncExitStack() as stack:
        caches, _ = await _two_instances(stack, clock)

        async def call(cache: Cache) -> None:
            answers.append(await cache.get_or_fetch("hot", "key", fetch))

        async with anyio.create_task_group() as tg:
            for k in range(round(4 * TTL / 0.1)):  # ten callers a second, alternating
                tg.start_soon(call, caches[k % 2])
                await anyio.sleep(0.1)
    stats = [cache.stats().namespaces["hot"] for cache in caches]
    # Only the cold start missed: every later value was refreshed before it expired.
    assert sum(s.expiry_miss_burst for s in stats) == 0
    assert sum(s.refreshes_succeeded for s in stats) >= 3
    # And one fetch per value for both instances: the upstream saw no duplicate refresh.
    assert fetch.calls <= 1 + 4
    assert len(set(answers)) == fetch.calls


async def _two_instances(stack: Any, clock: VirtualClock) -> tuple[list[Cache], list[Any]]:
    from engine.shared import (
        DistributedFlight,
        InProcessRedis,
        RedisStore,
        SharedTierConfig,
        TieredStore,
    )

    twin = InProcessRedis(clock=clock)
    settings = SharedTierConfig(time_source="client", poll_interval=0.05)
    caches, stores = [], []
    for k in range(2):
        store = TieredStore(
            MemoryStore(100, clock=clock),
            RedisStore(twin, clock=clock, config=settings),
            clock=clock,
            config=settings,
        )
        stores.append(store)
        flight = await stack.enter_async_context(
            DistributedFlight(twin, store, clock=clock, settings=settings)
        )
        group = OwnedTaskGroup(f"instance {k}'s refreshes")
        await group.open()
        stack.push_async_exit(group.close)
        caches.append(
            Cache(
                store,
                flights=flight,
                clock=clock,
                policy=policy(refresh_ahead=1.0),
                background=group,
                seed=k,
            )
        )
    return caches, stores


async def test_a_later_refresh_on_another_instance_takes_the_first_ones_value() -> None:
    """B's memory tier still holds the entry A has just replaced: B's refresh must read the
    shared tier, take A's newer value (and keep it in memory), and fetch nothing."""
    from contextlib import AsyncExitStack

    clock = VirtualClock()
    fetch = Upstream(delay=1.0)
    async with AsyncExitStack() as stack:
        (a, b), (_, store_b) = await _two_instances(stack, clock)
        assert await a.get_or_fetch("hot", "key", fetch) == "v1"
        assert await b.get_or_fetch("hot", "key", fetch) == "v1"  # B's memory holds v1
        full = a._namespace("hot").key("key")
        old = (await store_b.memory.get(full)).expires_at
        await anyio.sleep(TTL - 5)
        await a._refresh(a._namespace("hot"), full, fetch, old)
        assert fetch.calls == 2
        await b._refresh(b._namespace("hot"), full, fetch, old)
        assert fetch.calls == 2  # answered by A's entry
        assert (await store_b.memory.get(full)).value == "v2"
        assert await b.get_or_fetch("hot", "key", fetch) == "v2"


async def test_the_refresh_marker_does_not_reach_the_fetch() -> None:
    """A fetch run by a refresh (and any lookup it makes) is no refresh itself."""
    from contextlib import AsyncExitStack

    from engine.singleflight import REFRESHING

    clock = VirtualClock()
    seen: list[float | None] = []

    async def fetch() -> str:
        seen.append(REFRESHING.get())
        return "v"

    async with AsyncExitStack() as stack:
        (a, _), _ = await _two_instances(stack, clock)
        full = a._namespace("hot").key("key")
        await a._refresh(a._namespace("hot"), full, fetch, 1234.5)
    assert seen == [None]
