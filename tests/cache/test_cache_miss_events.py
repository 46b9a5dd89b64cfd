"""The cache reports every counted miss to its observer (the lookups a workload made are its hits
and misses); a lookup that does not count reports no miss. On asyncio and trio."""

from __future__ import annotations

import anyio
import pytest

from engine.cache import MISSING, Cache, MemoryStore
from engine.cache.events import CacheEvent
from engine.clock import VirtualClock
from engine.singleflight import SingleFlight
from tests.cache.test_cache_facade import BrokenStore
from tests.engine_configs import POLICY

pytestmark = pytest.mark.anyio


async def _value() -> str:
    return "v"


async def _missing() -> object:
    return MISSING


async def test_get_or_fetch_reports_a_miss_before_the_store_and_a_stale_one_with_its_expiry() -> (
    None
):
    clock = VirtualClock(epoch=0.0)
    events: list[CacheEvent] = []
    async with SingleFlight() as flights:
        cache = Cache(
            MemoryStore(10, clock=clock),
            flights=flights,
            clock=clock,
            policy=POLICY,
            observer=events.append,
        )
        await cache.get_or_fetch("tracks", "a", _value)  # miss, store
        await anyio.sleep(10)
        await cache.get_or_fetch("tracks", "a", _value)  # hit
        await anyio.sleep(7200)
        await cache.get_or_fetch("tracks", "a", _value)  # stale: miss, store
        await cache.get_or_fetch("ids", "u", _missing)  # miss, negative store
        await cache.get_or_fetch("ids", "u", _missing)  # negative hit
    assert [(e.kind, e.key, e.at, e.expires_at) for e in events] == [
        ("miss", "v1:tracks:a", 0.0, 0.0),
        ("store", "v1:tracks:a", 0.0, 7200.0),
        ("hit", "v1:tracks:a", 10.0, 7200.0),
        ("miss", "v1:tracks:a", 7210.0, 7200.0),
        ("store", "v1:tracks:a", 7210.0, 14410.0),
        ("miss", "v1:ids:u", 7210.0, 0.0),
        ("store", "v1:ids:u", 7210.0, 7210.0 + 14 * 86400),
        ("hit", "v1:ids:u", 7210.0, 7210.0 + 14 * 86400),
    ]
    stats = cache.stats().namespaces
    assert stats["tracks"].misses == 2 and stats["ids"].misses == 1


async def test_lookup_many_reports_each_missing_and_stale_key_once() -> None:
    clock = VirtualClock(epoch=0.0)
    events: list[CacheEvent] = []
    async with SingleFlight() as flights:
        cache = Cache(
            MemoryStore(10, clock=clock),
            flights=flights,
            clock=clock,
            policy=POLICY,
            observer=events.append,
        )
        await cache.store_many("artists", {"x": 1, "y": 2})
        await anyio.sleep(3600)  # both stale now
        await cache.store_many("artists", {"y": 3})
        events.clear()
        assert await cache.lookup_many("artists", ["x", "y", "z", "x"]) == {"y": 3}
    assert [(e.kind, e.key, e.at, e.expires_at) for e in events] == [
        ("miss", "v1:artists:x", 3600.0, 3600.0),
        ("hit", "v1:artists:y", 3600.0, 7200.0),
        ("miss", "v1:artists:z", 3600.0, 0.0),
    ]


async def test_uncounted_lookups_report_hits_but_no_miss() -> None:
    clock = VirtualClock(epoch=0.0)
    events: list[CacheEvent] = []
    async with SingleFlight() as flights:
        cache = Cache(
            MemoryStore(10, clock=clock),
            flights=flights,
            clock=clock,
            policy=POLICY,
            observer=events.append,
        )
        await cache.store_many("artists", {"x": 1})
        events.clear()
        assert await cache.lookup_many("artists", ["x", "z"], count=False) == {"x": 1}
    assert [(e.kind, e.key) for e in events] == [("hit", "v1:artists:x")]
    assert cache.stats().namespaces["artists"].misses == 0


async def test_a_failing_store_reports_counted_misses() -> None:
    clock = VirtualClock(epoch=0.0)
    events: list[CacheEvent] = []
    async with SingleFlight() as flights:
        cache = Cache(
            BrokenStore(), flights=flights, clock=clock, policy=POLICY, observer=events.append
        )
        assert await cache.get_or_fetch("tracks", "a", _value) == "v"
        assert await cache.lookup_many("artists", ["x", "y"]) == {}
        assert await cache.lookup_many("artists", ["z"], count=False) == {}
    assert [(e.kind, e.key) for e in events] == [
        ("miss", "v1:tracks:a"),
        ("miss", "v1:artists:x"),
        ("miss", "v1:artists:y"),
    ]
