"""Engine.until_quiet: spare budget is the budget nobody waiting for it has used for a while.

Both rate limiters (local and shared) report their latest interactive grant and whether an
interactive request waits; the engine waits for ``quiet`` seconds of neither. Virtual time,
both backends."""

from __future__ import annotations

import math
from typing import Any

import anyio
import pytest

from engine import Engine, EngineConfig, RateLimitConfig, WindowRule
from engine.clock import VirtualClock
from engine.limits import ConcurrencyConfig, RateLimiter, RateLimitTimeout
from engine.shared import InProcessRedis, RedisRateLimiter

pytestmark = pytest.mark.anyio

RATE = RateLimitConfig(rules=(WindowRule(limit=80, window=60.0),), min_interval=0.75)


def local(clock: VirtualClock) -> RateLimiter:
    return RateLimiter(RATE, clock=clock)


def shared(clock: VirtualClock) -> RedisRateLimiter:
    return RedisRateLimiter(InProcessRedis(clock=clock), RATE, clock=clock)


LIMITERS = pytest.mark.parametrize("make_limiter", [local, shared], ids=["local", "shared"])


def engine_with(limiter: Any, clock: VirtualClock) -> Engine:
    config = EngineConfig(concurrency=ConcurrencyConfig(limit=6))
    return Engine(config, clock=clock, rate_limiter=limiter)


@LIMITERS
async def test_quiet_from_the_start_returns_at_once(make_limiter: Any) -> None:
    clock = VirtualClock()
    limiter = make_limiter(clock)
    assert limiter.last_interactive() == -math.inf
    async with engine_with(limiter, clock) as engine:
        started = clock.monotonic()
        await engine.until_quiet(5.0)
        assert clock.monotonic() == started


@LIMITERS
async def test_waits_quiet_seconds_after_the_latest_interactive_grant(make_limiter: Any) -> None:
    clock = VirtualClock()
    limiter = make_limiter(clock)
    async with engine_with(limiter, clock) as engine:
        granted = [await limiter.acquire(priority="interactive") for _ in range(3)]
        # Spaced 0.75 s apart: the second and the third waited in line.
        assert granted[2] - granted[0] == pytest.approx(1.5, abs=0.01)  # the shared one: ms
        assert limiter.last_interactive() == pytest.approx(granted[2])
        await engine.until_quiet(5.0)
        assert clock.monotonic() == pytest.approx(granted[2] + 5.0)


@LIMITERS
async def test_background_grants_do_not_count_and_a_waiting_interactive_one_does(
    make_limiter: Any,
) -> None:
    clock = VirtualClock()
    limiter = make_limiter(clock)
    seen: list[float | None] = []
    async with engine_with(limiter, clock) as engine:
        await limiter.acquire(priority="background")
        assert limiter.last_interactive() == -math.inf  # background is not interactive
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: limiter.acquire(priority="interactive"))  # waits out spacing
            await anyio.sleep(0.1)
            seen.append(limiter.last_interactive())  # None: someone waits
        granted_at = limiter.last_interactive()
        assert granted_at == pytest.approx(0.75, abs=0.01)
        await engine.until_quiet(2.0)
        assert clock.monotonic() == pytest.approx(granted_at + 2.0)
    assert seen == [None]


@LIMITERS
async def test_every_interactive_grant_starts_another_quiet_period(make_limiter: Any) -> None:
    clock = VirtualClock()
    limiter = make_limiter(clock)
    returned: list[float] = []
    async with engine_with(limiter, clock) as engine:

        async def interactive_traffic() -> None:
            for at in (1.0, 4.0, 7.0, 10.0):  # gaps shorter than the quiet period
                await anyio.sleep_until(at)
                await limiter.acquire(priority="interactive")

        async with anyio.create_task_group() as tg:
            tg.start_soon(interactive_traffic)
            await anyio.sleep(1.5)  # after the first interactive grant
            await engine.until_quiet(5.0)
            returned.append(clock.monotonic())
    assert returned == [pytest.approx(15.0, abs=0.01)]


async def test_a_limiter_that_cannot_tell_lets_it_through_and_bad_quiet_is_refused() -> None:
    clock = VirtualClock()

    class Opaque:
        def __init__(self) -> None:
            self.inner = RateLimiter(RATE, clock=clock)

        async def acquire(self, **kwargs: Any) -> float:
            return await self.inner.acquire(**kwargs)

        def pause(self, seconds: float) -> None:
            self.inner.pause(seconds)

        def observe(self, *, rate_limited: bool) -> None:
            pass

        def stats(self) -> Any:
            return self.inner.stats()

    async with engine_with(Opaque(), clock) as engine:
        await engine.rate.acquire()
        await engine.until_quiet(5.0)
        assert clock.monotonic() == 0.0
        for bad in (-1.0, math.nan, math.inf, True, "5"):
            with pytest.raises(ValueError, match="quiet"):
                await engine.until_quiet(bad)  # type: ignore[arg-type]


@LIMITERS
async def test_cancelled_while_waiting_leaves_nothing_behind(make_limiter: Any) -> None:
    clock = VirtualClock()
    limiter = make_limiter(clock)
    async with engine_with(limiter, clock) as engine:
        await limiter.acquire(priority="interactive")
        with anyio.move_on_after(1.0) as scope:
            await engine.until_quiet(5.0)
        assert scope.cancelled_caught
        # The limiter is untouched: the next interactive request goes out at its spacing.
        assert await limiter.acquire(priority="interactive") == pytest.approx(1.0, abs=0.01)


@LIMITERS
@pytest.mark.parametrize("leaves", ["cancelled", "deadline"])
async def test_an_interactive_waiter_that_leaves_without_a_grant_restarts_the_period(
    make_limiter: Any, leaves: str
) -> None:
    """It waited until it left: the budget was not spare meanwhile."""
    clock = VirtualClock()
    limiter = make_limiter(clock)
    async with engine_with(limiter, clock) as engine:
        await limiter.acquire(priority="background")  # the next grant only at 0.75 s
        if leaves == "cancelled":
            with anyio.move_on_after(0.7):
                await limiter.acquire(priority="interactive")
        else:
            with pytest.raises(RateLimitTimeout):
                await limiter.acquire(priority="interactive", deadline=0.7)
        left = clock.monotonic()
        assert limiter.last_interactive() == pytest.approx(left)
        await engine.until_quiet(0.5)
        assert clock.monotonic() == pytest.approx(left + 0.5)
