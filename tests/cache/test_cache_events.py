from __future__ import annotations

import anyio
import pytest

from engine.cache import Cache, MemoryStore
from engine.cache.events import CacheEvent
from engine.clock import VirtualClock
from engine.singleflight import SingleFlight
from tests.engine_configs import POLICY

pytestmark = pytest.mark.anyio


async def test_observer_sees_misses_stores_hits_and_evictions() -> None:
    clock = VirtualClock(epoch=0.0)
    events: list[CacheEvent] = []
    store = MemoryStore(capacity=2, clock=clock, observer=events.append)
    async with SingleFlight() as flights:
        cache = Cache(store, flights=flights, clock=clock, policy=POLICY, observer=events.append)

        async def fetch() -> str:
            return "v"

        await cache.get_or_fetch("tracks", "a", fetch)
        await anyio.sleep(1)
        await cache.get_or_fetch("tracks", "a", fetch)
        await cache.store_many("artists", {"x": 1, "y": 2})  # evicts tracks:a
        assert await cache.lookup_many("artists", ["x"]) == {"x": 1}
    kinds = [(e.kind, e.key, e.at) for e in events]
    assert kinds == [
        ("miss", "v1:tracks:a", 0.0),
        ("store", "v1:tracks:a", 0.0),
        ("hit", "v1:tracks:a", 1.0),
        ("store", "v1:artists:x", 1.0),
        ("evict", "v1:tracks:a", 1.0),
        ("store", "v1:artists:y", 1.0),
        ("hit", "v1:artists:x", 1.0),
    ]
    assert events[1].expires_at == 7200.0
