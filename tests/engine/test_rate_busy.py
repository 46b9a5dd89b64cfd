"""Busy time of the rate limiters: how long work waited for the budget, in how many stretches,
and the grants made to it. In virtual time, on asyncio and trio."""

from __future__ import annotations

import anyio
import pytest

from engine.clock import VirtualClock
from engine.limits import RateLimiter, RateLimitTimeout
from engine.shared import InProcessRedis, RedisRateLimiter, SharedTierConfig
from tests.engine_configs import RATE

pytestmark = pytest.mark.anyio


async def _together(limiter: RateLimiter | RedisRateLimiter, n: int) -> list[float]:
    grants: list[float] = []

    async def one() -> None:
        grants.append(await limiter.acquire())

    async with anyio.create_task_group() as tg:
        for _ in range(n):
            tg.start_soon(one)
    return sorted(grants)


async def test_local_limiter_counts_the_time_its_queue_was_not_empty() -> None:
    clock = VirtualClock()
    limiter = RateLimiter(RATE, clock=clock)  # 0.75 s apart
    start = clock.monotonic()
    stats = limiter.stats()
    assert (stats.busy_time, stats.busy_periods, stats.busy_grants) == (0.0, 0, 0)

    # Five at once: the first is granted at once (nobody waits), four wait 0.75 s each. The
    # stretch starts when the budget could first grant again (0.75), not when they arrived.
    times = await _together(limiter, 5)
    assert [t - start for t in times] == pytest.approx([0, 0.75, 1.5, 2.25, 3.0])
    stats = limiter.stats()
    assert stats.busy_time == pytest.approx(2.25)
    assert (stats.busy_periods, stats.busy_grants) == (1, 4)

    # Alone with the budget free: no wait, nothing busy.
    await anyio.sleep_until(start + 100)
    await limiter.acquire()
    assert limiter.stats().busy_periods == 1

    # 0.1 s after a grant: waits out the spacing (0.65 s), a second stretch of no budget time.
    await anyio.sleep_until(start + 100.1)
    async with anyio.create_task_group() as tg:
        tg.start_soon(limiter.acquire)
        await anyio.sleep(0.4)
        open_stretch = limiter.stats()
        assert open_stretch.queue == 1
        assert open_stretch.busy_time == pytest.approx(2.25)
        assert open_stretch.busy_periods == 2
    stats = limiter.stats()
    assert stats.busy_time == pytest.approx(2.25)
    assert (stats.busy_periods, stats.busy_grants, stats.granted) == (2, 5, 7)

    # A caller whose deadline cannot be met leaves at once: no stretch, no grant.
    await anyio.sleep_until(start + 200)
    await limiter.acquire()
    with pytest.raises(RateLimitTimeout):
        await limiter.acquire(deadline=clock.monotonic() + 0.5)
    stats = limiter.stats()
    assert stats.busy_time == pytest.approx(2.25)
    assert (stats.busy_periods, stats.busy_grants, stats.queue) == (2, 5, 0)
    # What the budget allowed while work waited, 2.25 s at 4/3 a second plus one grant per
    # stretch, is what it granted: all of it.
    assert stats.busy_grants == pytest.approx(stats.busy_time * 4 / 3 + stats.busy_periods)


async def test_a_cancelled_waiter_ends_the_stretch_when_it_leaves() -> None:
    clock = VirtualClock()
    limiter = RateLimiter(RATE, clock=clock)
    start = clock.monotonic()
    await limiter.acquire()  # at once
    async with anyio.create_task_group() as tg:
        tg.start_soon(limiter.acquire)  # waits; granted at 0.75, when the stretch starts
        with anyio.move_on_after(1.25):
            await limiter.acquire(key="z")  # next in line for 1.5; leaves at 1.25
    assert clock.monotonic() - start == pytest.approx(1.25)
    stats = limiter.stats()
    assert stats.busy_time == pytest.approx(0.5)
    assert (stats.busy_periods, stats.busy_grants, stats.queue) == (1, 1, 0)
    # One that leaves before the budget could grant it leaves no stretch at all.
    with anyio.move_on_after(0.1):
        await limiter.acquire()
    assert limiter.stats().busy_periods == 1
    assert limiter.stats().busy_time == pytest.approx(0.5)


async def test_shared_limiter_is_busy_while_any_caller_waits_for_its_grant() -> None:
    clock = VirtualClock()
    twin = InProcessRedis(clock=clock)
    limiter = RedisRateLimiter(
        twin, RATE, clock=clock, settings=SharedTierConfig(time_source="client")
    )
    start = clock.monotonic()
    times = await _together(limiter, 3)
    assert [t - start for t in times] == pytest.approx(
        [0, 0.75, 1.5], abs=5e-3
    )  # whole milliseconds
    stats = limiter.stats()
    assert stats.busy_time == pytest.approx(times[-1] - start)
    assert (stats.busy_periods, stats.busy_grants, stats.granted) == (1, 3, 3)

    await anyio.sleep_until(start + 100)
    await limiter.acquire()  # alone: a stretch of a round trip, one grant
    stats = limiter.stats()
    assert stats.busy_time == pytest.approx(times[-1] - start, abs=1e-3)
    assert (stats.busy_periods, stats.busy_grants) == (2, 4)
