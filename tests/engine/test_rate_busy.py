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

    # Five at once: the first is granted at once (nobody waits), four wait 0.75 s each.
    times = await _together(limiter, 5)
    assert [t - start for t in times] == pytest.approx([0, 0.75, 1.5, 2.25, 3.0])
    stats = limiter.stats()
    assert stats.busy_time == pytest.approx(3.0)
    assert (stats.busy_periods, stats.busy_grants) == (1, 4)

    # Alone with the budget free: no wait, nothing busy.
    await anyio.sleep_until(start + 100)
    await limiter.acquire()
    assert limiter.stats().busy_periods == 1

    # 0.1 s after a grant: waits 0.65 s, a second stretch; the stats include it while it lasts.
    await anyio.sleep_until(start + 100.1)
    async with anyio.create_task_group() as tg:
        tg.start_soon(limiter.acquire)
        await anyio.sleep(0.4)
        open_stretch = limiter.stats()
        assert open_stretch.queue == 1
        assert open_stretch.busy_time == pytest.approx(3.0 + 0.4)
        assert open_stretch.busy_periods == 2
    stats = limiter.stats()
    assert stats.busy_time == pytest.approx(3.0 + 0.65)
    assert (stats.busy_periods, stats.busy_grants, stats.granted) == (2, 5, 7)

    # A caller whose deadline cannot be met leaves at once: a stretch of no time, no grant.
    await anyio.sleep_until(start + 200)
    await limiter.acquire()
    with pytest.raises(RateLimitTimeout):
        await limiter.acquire(deadline=clock.monotonic() + 0.5)
    stats = limiter.stats()
    assert stats.busy_time == pytest.approx(3.65)
    assert (stats.busy_periods, stats.busy_grants, stats.queue) == (3, 5, 0)


async def test_a_cancelled_waiter_ends_the_stretch_when_it_leaves() -> None:
    clock = VirtualClock()
    limiter = RateLimiter(RATE, clock=clock)
    await limiter.acquire()
    with anyio.move_on_after(0.5):
        await limiter.acquire()
    stats = limiter.stats()
    assert stats.busy_time == pytest.approx(0.5)
    assert (stats.busy_periods, stats.busy_grants, stats.queue) == (1, 0, 0)


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
