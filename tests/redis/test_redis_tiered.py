"""The two-tier store over Redis and over the twin: fills, writes through, degrades, recovers."""

from __future__ import annotations

import anyio
import pytest
from conftest import FAST, Tier

from engine.cache import Cache, MemoryStore
from engine.cache.store import Entry
from engine.shared import RedisStore, SharedBackend, TieredStore
from engine.singleflight import SingleFlight
from tests.engine_configs import POLICY

pytestmark = pytest.mark.anyio


def tiered(tier: Tier, backend: SharedBackend) -> TieredStore:
    return TieredStore(
        MemoryStore(100, clock=tier.clock),
        RedisStore(backend, clock=tier.clock, config=FAST),
        clock=tier.clock,
        config=FAST,
    )


async def test_a_shared_hit_fills_memory_with_its_own_expiry(tier: Tier) -> None:
    async with tier.connect() as first, tier.connect() as second:
        a, b = tiered(tier, first), tiered(tier, second)
        expires = tier.clock.wall() + 60
        await a.set("v1:ids:x", Entry("rb-1", expires))
        assert "v1:ids:x" in a.memory and "v1:ids:x" not in b.memory
        assert await b.get("v1:ids:x") == Entry("rb-1", expires)
        assert await b.memory.get("v1:ids:x") == Entry("rb-1", expires)
        assert await b.get("v1:ids:x") == Entry("rb-1", expires)
        assert (b.stats().shared_hits, b.stats().memory_hits) == (1, 1)
        await a.set("v1:ids:y", Entry("rb-2", expires))
        assert await b.get_many(["v1:ids:x", "v1:ids:y", "v1:ids:z"]) == [
            Entry("rb-1", expires),
            Entry("rb-2", expires),
            None,
        ]
        assert (b.stats().shared_hits, b.stats().memory_hits, b.stats().shared_misses) == (2, 2, 1)
        await b.delete("v1:ids:x")
        assert "v1:ids:x" not in b.memory
        assert await a.shared.get("v1:ids:x") is None


async def test_stale_memory_asks_the_shared_tier(tier: Tier) -> None:
    async with tier.connect() as backend:
        store = tiered(tier, backend)
        now = tier.clock.wall()
        await store.memory.set("v1:ids:x", Entry("old", now - 1))
        await store.shared.set("v1:ids:x", Entry("new", now + 60))
        assert await store.get("v1:ids:x") == Entry("new", now + 60)


async def test_an_outage_degrades_to_memory_and_recovers(
    tier: Tier, caplog: pytest.LogCaptureFixture
) -> None:
    async with tier.connect() as backend:
        store = tiered(tier, backend)
        async with SingleFlight() as flights:
            cache = Cache(store, flights=flights, clock=tier.clock, policy=POLICY)
            calls = 0

            async def fetch() -> str:
                nonlocal calls
                calls += 1
                return f"value-{calls}"

            assert await cache.get_or_fetch("ids", "x", fetch) == "value-1"
            tier.outage()
            assert await cache.get_or_fetch("ids", "x", fetch) == "value-1"  # memory
            assert await cache.get_or_fetch("ids", "y", fetch) == "value-2"  # shared down
            assert await cache.get_or_fetch("ids", "y", fetch) == "value-2"
            stats = store.stats()
            assert stats.shared_errors >= 1 and stats.fallbacks >= 1
            assert not stats.shared_available
            assert cache.stats().store_errors == 0  # the tier absorbed every failure
            assert sum("shared cache tier" in r.message for r in caplog.records) == 1
            tier.restore()
            await anyio.sleep(FAST.retry_after)
            with anyio.fail_after(5):
                while store.stats().shared_hits == 0:
                    await store.memory.delete("v1:ids:z")
                    await store.set("v1:ids:z", Entry("z", tier.clock.wall() + 60))
                    await store.memory.delete("v1:ids:z")
                    await store.get("v1:ids:z")
                    await anyio.sleep(0.05)
            assert store.stats().shared_available
