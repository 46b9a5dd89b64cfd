"""The line the shared limiter's callers take turns in, with priority classes: interactive
callers before background ones, background within its share, a retry first; both backends."""

from __future__ import annotations

import anyio
import pytest

from engine.clock import VirtualClock
from engine.limits import RateLimitConfig, WindowRule
from engine.limits.line import Line
from engine.limits.priority import BACKGROUND, INTERACTIVE, Priority, PriorityShare
from engine.shared import InProcessRedis, RedisRateLimiter, SharedTierConfig

pytestmark = pytest.mark.anyio


async def turns(line: Line, callers: list[tuple[str, Priority, bool]]) -> list[str]:
    """Each caller queues (in list order) while the line is held, then takes its turn."""
    order: list[str] = []

    async def caller(name: str, priority: Priority, first: bool) -> None:
        await line.acquire(first=first, priority=priority)
        order.append(name)
        await anyio.sleep(0.01)
        line.release()

    await line.acquire()
    async with anyio.create_task_group() as tg:
        for name, priority, first in callers:
            tg.start_soon(caller, name, priority, first)
            await anyio.sleep(0.001)
        line.release()
    return order


async def test_without_a_share_the_line_is_first_come_first_served() -> None:
    callers = [("b1", BACKGROUND, False), ("i1", INTERACTIVE, False), ("r", INTERACTIVE, True)]
    assert await turns(Line(), callers) == ["r", "b1", "i1"]


async def test_interactive_goes_before_background_within_the_share() -> None:
    share = PriorityShare(0.25)  # one in every four while both wait
    callers = [(f"b{i}", BACKGROUND, False) for i in range(3)]
    callers += [(f"i{i}", INTERACTIVE, False) for i in range(7)]
    callers += [("retry", INTERACTIVE, True)]
    order = await turns(Line(share), callers)
    assert order[0] == "retry"
    # Interactive first, FIFO within a class, a background turn after every three interactive.
    assert order[1:] == ["i0", "i1", "i2", "b0", "i3", "i4", "i5", "b1", "i6", "b2"]
    assert share.background_ahead == 2


async def test_the_shared_limiter_orders_its_line_by_class() -> None:
    clock = VirtualClock()
    config = RateLimitConfig(
        rules=(WindowRule(limit=1000, window=60),), min_interval=1.0, background_share=0.5
    )
    limiter = RedisRateLimiter(
        InProcessRedis(clock=clock),
        config,
        clock=clock,
        settings=SharedTierConfig(time_source="client"),
    )
    granted: list[str] = []

    async def ask(name: str, priority: Priority) -> None:
        await limiter.acquire(priority=priority)
        granted.append(name)

    async with anyio.create_task_group() as tg:
        # "first" is granted at once; "second" takes the turn and waits out the spacing
        # holding it (the turn is not pre-empted); the rest queue behind it by class.
        for name, priority in (
            ("first", INTERACTIVE),
            ("second", INTERACTIVE),
            ("b0", BACKGROUND),
            ("b1", BACKGROUND),
            ("i0", INTERACTIVE),
            ("i1", INTERACTIVE),
        ):
            tg.start_soon(ask, name, priority)
            await anyio.sleep(0.001)
    assert granted == ["first", "second", "i0", "b0", "i1", "b1"]
    stats = limiter.stats()
    assert (stats.background_grants, stats.background_ahead) == (2, 1)
