"""The lease's renewals, and the shared tier's reprs, in virtual time over the in-process twin:
minutes of renewals cost no wall time."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from engine import MemoryStore, VirtualClock
from engine.limits import RateLimitConfig, WindowRule
from engine.shared import (
    DistributedFlight,
    InProcessRedis,
    KeyClaims,
    RedisRateLimiter,
    RedisStore,
    SharedTierConfig,
    TieredStore,
)
from engine.shared.lease import Lease
from engine.singleflight import CacheFlightKey, SingleFlight
from engine.virtual import BACKENDS, backend_options

pytestmark = pytest.mark.anyio

KEY = "lease:k"
SETTINGS = SharedTierConfig(prefix="t", time_source="client", lock_ttl=3.0, poll_interval=0.5)


@pytest.fixture(params=BACKENDS)
def anyio_backend(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
    """Virtual time again (this directory's conftest switches to real time)."""
    return request.param, backend_options(request.param, seed=0)


async def test_renewals_keep_the_key_for_work_far_longer_than_the_ttl() -> None:
    twin = InProcessRedis(clock=VirtualClock())
    rivals: list[bool] = []

    async def work() -> str:
        for _ in range(3):
            await anyio.sleep(10)  # 30 s of work, ten times the TTL
            async with Lease(twin, ttl=3.0) as rival:
                rivals.append(await rival.take(KEY))
        return "done"

    async with Lease(twin, ttl=3.0) as lease:
        assert await lease.take(KEY)
        assert await lease.run(work) == "done"
        assert lease.held == (KEY,)
    assert rivals == [False, False, False]
    assert lease.renewals >= 29  # every second (a third of the TTL) for 30 s
    assert (lease.lost, lease.released, lease.errors) == (0, 1, 0)
    async with Lease(twin, ttl=3.0) as after:
        assert await after.take(KEY)  # released at once, not left to expire


async def test_a_holder_that_stops_renewing_loses_the_key_after_the_ttl() -> None:
    twin = InProcessRedis(clock=VirtualClock())
    dead = Lease(twin, ttl=3.0)
    assert await dead.take(KEY)  # and never runs, renews nor releases: it died
    await anyio.sleep(2.9)
    assert not await Lease(twin, ttl=3.0).take(KEY)
    await anyio.sleep(0.2)
    assert await Lease(twin, ttl=3.0).take(KEY)


async def test_a_key_taken_away_is_lost_at_the_next_renewal_and_left_alone() -> None:
    twin = InProcessRedis(clock=VirtualClock())

    async def work() -> None:
        await anyio.sleep(0.5)
        await twin.set(KEY, b"someone else", ttl_ms=60_000)  # ours had lapsed meanwhile
        await anyio.sleep(2)

    async with Lease(twin, ttl=3.0) as lease:
        assert await lease.take(KEY)
        await lease.run(work)
        assert lease.held == ()
    assert (lease.lost, lease.renewals, lease.released) == (1, 0, 0)
    assert await twin.get_many([KEY]) == [b"someone else"]


async def test_a_failed_renewal_is_counted_and_the_next_one_keeps_the_key() -> None:
    twin = InProcessRedis(clock=VirtualClock())
    errors: list[None] = []

    async def work() -> None:
        await anyio.sleep(0.5)
        twin.available = False  # the renewal at 1 s fails
        await anyio.sleep(1)
        twin.available = True  # the one at 2 s succeeds
        await anyio.sleep(3)

    async with Lease(twin, ttl=3.0, on_error=lambda: errors.append(None)) as lease:
        assert await lease.take(KEY)
        await lease.run(work)
        assert lease.held == (KEY,)
        assert await twin.get_many([KEY]) == [lease.token]
    assert (lease.errors, len(errors), lease.lost, lease.released) == (1, 1, 0, 1)


async def test_lease_repr_shows_what_it_holds_and_what_it_did() -> None:
    twin = InProcessRedis(clock=VirtualClock())
    lease = Lease(twin, ttl=3.0)
    assert repr(lease) == (
        "<Lease [idle | held: 0 | ttl: 3 s | renewals: 0, lost: 0, released: 0, errors: 0]>"
    )

    async def work() -> str:
        await anyio.sleep(2.5)
        return repr(lease)

    async with lease:
        assert await lease.take(KEY) and await lease.take("lease:other")
        during = await lease.run(work)
    assert during == (
        "<Lease [renewing | held: 2 | ttl: 3 s | renewals: 4, lost: 0, released: 0, errors: 0]>"
    )
    assert repr(lease) == (
        "<Lease [idle | held: 0 | ttl: 3 s | renewals: 4, lost: 0, released: 2, errors: 0]>"
    )


async def test_distributed_flight_repr_counts_flights_and_locks_held() -> None:
    clock = VirtualClock()
    twin = InProcessRedis(clock=clock)
    store = TieredStore(
        MemoryStore(clock=clock),
        RedisStore(twin, clock=clock, config=SETTINGS),
        clock=clock,
        config=SETTINGS,
    )
    flights = DistributedFlight(twin, store, clock=clock, settings=SETTINGS)
    release = anyio.Event()

    async def fetch() -> str:
        await release.wait()
        return "v"

    assert repr(flights) == (
        "<DistributedFlight [closed | in flight: 0 | coordinating: 0, locks held: 0 | "
        "locked: 0, answered remotely: 0, errors: 0]>"
    )
    async with flights, anyio.create_task_group() as tg:
        tg.start_soon(flights.do, CacheFlightKey("v1:ids:a"), fetch)
        tg.start_soon(flights.do, CacheFlightKey("v1:ids:b"), fetch)
        tg.start_soon(flights.do, ("upstream", "c"), fetch)  # local only: no lock
        await anyio.sleep(1)
        assert repr(flights) == (
            "<DistributedFlight [open | in flight: 3 | coordinating: 2, locks held: 2 | "
            "locked: 2, answered remotely: 0, errors: 0]>"
        )
        release.set()
    assert repr(flights) == (
        "<DistributedFlight [closed | in flight: 0 | coordinating: 0, locks held: 0 | "
        "locked: 2, answered remotely: 0, errors: 0]>"
    )


async def test_key_claims_repr_counts_batches_and_claims_held() -> None:
    twin = InProcessRedis(clock=VirtualClock())
    claims = KeyClaims(twin, "ids", clock=VirtualClock(), settings=SETTINGS)
    release = anyio.Event()
    seen: list[str] = []

    async def fetch(keys: list[int]) -> dict[int, str]:
        seen.append(repr(claims))
        await release.wait()
        return {key: f"v{key}" for key in keys}

    async def answered(keys: list[int]) -> dict[int, str]:
        return {}

    assert repr(claims) == (
        "<KeyClaims [t:claim:ids | fetching: 0 batches, claims held: 0 | claimed: 0, "
        "answered remotely: 0, errors: 0]>"
    )
    async with anyio.create_task_group() as tg:
        tg.start_soon(claims.fetch, [1, 2, 3], fetch, answered)
        await anyio.sleep(1)
        release.set()
    assert seen == [
        "<KeyClaims [t:claim:ids | fetching: 1 batches, claims held: 3 | claimed: 3, "
        "answered remotely: 0, errors: 0]>"
    ]
    assert "fetching: 0 batches, claims held: 0 | claimed: 3," in repr(claims)


async def test_the_claims_of_a_flight_share_its_backend_and_a_local_flight_has_none() -> None:
    clock = VirtualClock()
    twin = InProcessRedis(clock=clock)
    flights = DistributedFlight(twin, MemoryStore(clock=clock), clock=clock, settings=SETTINGS)
    claims = flights.key_claims("tracks")
    assert isinstance(claims, KeyClaims)
    assert claims.backend is twin and claims.settings is SETTINGS
    assert SingleFlight().key_claims("tracks") is None


async def test_a_cache_flight_key_is_no_tuple() -> None:
    assert CacheFlightKey("v1:ids:a") == CacheFlightKey("v1:ids:a")
    assert CacheFlightKey("v1:ids:a") != ("cache", "v1:ids:a")
    assert len({CacheFlightKey("k"), ("cache", "k"), "k"}) == 3


async def test_tiered_store_repr_shows_the_tiers_and_their_state() -> None:
    clock = VirtualClock()
    twin = InProcessRedis(clock=clock)
    store = TieredStore(
        MemoryStore(10, clock=clock),
        RedisStore(twin, clock=clock, config=SETTINGS),
        clock=clock,
        config=SETTINGS,
    )
    assert await store.get("v1:ids:a") is None
    assert repr(store) == (
        "<TieredStore [MemoryStore(capacity=10, size=0) in front of "
        "RedisStore(InProcessRedis(keys=0, available=True), prefix='t') | shared tier: up | "
        "memory hits: 0, shared hits: 0, shared misses: 1, shared errors: 0, fallbacks: 0]>"
    )
    twin.available = False
    assert await store.get("v1:ids:a") is None
    assert "| shared tier: left alone for 5.000 s |" in repr(store)
    assert "shared misses: 2, shared errors: 1, fallbacks: 0]>" in repr(store)
    await anyio.sleep(SETTINGS.retry_after)
    assert "| shared tier: to be probed |" in repr(store)


async def test_redis_rate_limiter_repr_shows_rules_queue_and_grants() -> None:
    clock = VirtualClock()
    twin = InProcessRedis(clock=clock)
    limiter = RedisRateLimiter(
        twin,
        RateLimitConfig(rules=(WindowRule(limit=3, window=10.0),), min_interval=1.0),
        clock=clock,
        settings=SETTINGS,
    )
    assert repr(limiter) == (
        "<RedisRateLimiter [t:rate:upstream | shared | rules: 3 per 10 s, 1 s apart | "
        "granted here in window: 0/3 in 10 s | queued: 0 | "
        "granted: 0 (shared: 0, fallback: 0), timeouts: 0, errors: 0]>"
    )
    async with anyio.create_task_group() as tg:
        for _ in range(5):
            tg.start_soon(limiter.acquire)
        await anyio.sleep(0.5)
        # Queued: the callers behind the head of the line (which sleeps for its grant).
        assert "| granted here in window: 1/3 in 10 s | queued: 3 |" in repr(limiter)
        await anyio.sleep(2)
        assert "| granted here in window: 3/3 in 10 s | queued: 1 |" in repr(limiter)
        twin.available = False
        await anyio.sleep(9)
    text = repr(limiter)
    assert "| degraded: 50% of the budget locally |" in text
    assert "| queued: 0 | granted: 5 (shared: 3, fallback: 2), timeouts: 0, errors:" in text


def test_shared_reprs_need_no_running_event_loop() -> None:
    clock = VirtualClock()
    twin = InProcessRedis(clock=clock)
    limiter = RedisRateLimiter(
        twin,
        RateLimitConfig(rules=(WindowRule(limit=3, window=10.0),), min_interval=1.0),
        clock=clock,
        settings=SETTINGS,
    )
    assert repr(limiter) == (
        "<RedisRateLimiter [t:rate:upstream | shared | rules: 3 per 10 s, 1 s apart | "
        "queued: 0 | granted: 0 (shared: 0, fallback: 0), timeouts: 0, errors: 0]>"
    )
    store = TieredStore(
        MemoryStore(clock=clock),
        RedisStore(twin, clock=clock, config=SETTINGS),
        clock=clock,
        config=SETTINGS,
    )
    permit = store._circuit.acquire(0.0)  # as after a failure
    assert permit is not None
    store._circuit.record(permit, 0.0, failed=True)
    assert "| shared tier: left alone |" in repr(store)
