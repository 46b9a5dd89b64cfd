from __future__ import annotations

import anyio
import pytest

from engine.clock import VirtualClock
from engine.config import ConfigError
from engine.limits import (
    ConcurrencyConfig,
    ConcurrencyLimiter,
    RateLimitConfig,
    RateLimiter,
    UpstreamGate,
)
from tests.engine_configs import CONCURRENCY

pytestmark = pytest.mark.anyio


async def test_bulkhead_bounds_in_flight_and_counts_peak() -> None:
    limiter = ConcurrencyLimiter(CONCURRENCY)
    in_flight = peak = 0

    async def request() -> None:
        nonlocal in_flight, peak
        async with limiter.slot():
            in_flight += 1
            peak = max(peak, in_flight)
            await anyio.sleep(1)
            in_flight -= 1

    async with anyio.create_task_group() as tg:
        for _ in range(20):
            tg.start_soon(request)
        await anyio.sleep(0.5)
        stats = limiter.stats()
        assert (stats.in_use, stats.waiting) == (6, 14)
    assert peak == 6
    assert limiter.stats().peak == 6
    assert limiter.stats().in_use == 0
    assert limiter.stats().acquired == 20


async def test_slots_return_after_errors_and_cancellation() -> None:
    limiter = ConcurrencyLimiter(ConcurrencyConfig(limit=2))

    async def failing() -> None:
        async with limiter.slot():
            raise ValueError("boom")

    for _ in range(5):
        with pytest.raises(ValueError):
            await failing()
    with anyio.move_on_after(1):
        async with limiter.slot(), limiter.slot():
            await anyio.sleep_forever()
    assert limiter.stats().in_use == 0
    # One task may hold several slots (tokens are per use, not per task).
    async with limiter.slot(), limiter.slot():
        assert limiter.stats().in_use == 2


def test_invalid_limit_names_the_field() -> None:
    with pytest.raises(ConfigError, match=r"ConcurrencyConfig\.limit"):
        ConcurrencyConfig(limit=0)


async def test_gate_never_holds_a_slot_while_waiting_for_a_grant() -> None:
    gate = UpstreamGate(
        RateLimiter(RateLimitConfig(rules=(), min_interval=1.0), clock=VirtualClock()),
        ConcurrencyLimiter(ConcurrencyConfig(limit=2)),
    )
    observed: list[int] = []

    async def request() -> None:
        async with gate.request():
            await anyio.sleep(0.1)

    async with anyio.create_task_group() as tg:
        for _ in range(10):
            tg.start_soon(request)
        for _ in range(20):
            await anyio.sleep(0.5)
            observed.append(gate.concurrency.stats().in_use)
    # Nine requests queue for grants at once; slots are only held by requests on the wire.
    assert max(observed) <= 1
    assert gate.rate.stats().max_queue == 9
    assert gate.concurrency.stats().peak == 1


async def test_gate_slot_released_when_cancelled_waiting_for_slot() -> None:
    gate = UpstreamGate(
        RateLimiter(RateLimitConfig(rules=(), min_interval=0), clock=VirtualClock()),
        ConcurrencyLimiter(ConcurrencyConfig(limit=1)),
    )
    async with anyio.create_task_group() as tg:

        async def hold() -> None:
            async with gate.request():
                await anyio.sleep(10)

        tg.start_soon(hold)
        await anyio.sleep(1)
        with anyio.move_on_after(1):
            async with gate.request():
                pytest.fail("got a slot that was taken")
        assert gate.concurrency.stats().waiting == 0
    assert gate.concurrency.stats().in_use == 0
