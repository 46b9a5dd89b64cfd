"""Priority classes: the share core's guarantees (property tests), and the rate limiter's line
ordered by class in virtual time on both backends (interactive first, FIFO within a class, a
bounded share for background, no starvation), the class travelling from Engine.upstream."""

from __future__ import annotations

import anyio
import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine import Engine
from engine.clock import VirtualClock
from engine.config import ConfigError
from engine.limits import RateLimitConfig, RateLimiter, WindowRule
from engine.limits.priority import (
    BACKGROUND,
    FETCH_PRIORITY,
    INTERACTIVE,
    Priority,
    PriorityShare,
    share_every,
)
from tests.engine_configs import engine_config

# -- the core -------------------------------------------------------------------------------

steps = st.lists(st.sampled_from(["i", "b", "grant", "grant", "grant"]), max_size=400)


@given(script=steps, share=st.floats(0.01, 0.5))
def test_the_share_bounds_background_and_never_starves_it(script: list[str], share: float) -> None:
    core = PriorityShare(share)
    every = core.every
    assert every == share_every(share) >= 2
    waiting = {INTERACTIVE: 0, BACKGROUND: 0}
    since_background = 0  # interactive grants made while background waited, since its last
    contended_run: list[Priority] = []  # the grants made while both waited, in order
    for step in script:
        if step == "i":
            waiting[INTERACTIVE] += 1
            continue
        if step == "b":
            waiting[BACKGROUND] += 1
            continue
        interactive, background = waiting[INTERACTIVE] > 0, waiting[BACKGROUND] > 0
        chosen = core.choose(interactive=interactive, background=background)
        if not interactive and not background:
            assert chosen is None
            continue
        assert chosen is not None and waiting[chosen] > 0  # work-conserving: a waiting class
        if interactive != background:
            assert chosen == (INTERACTIVE if interactive else BACKGROUND)
        if interactive and background:
            contended_run.append(chosen)
            if chosen == BACKGROUND:
                # Interactive first, within the share: background only after every - 1 of them.
                assert since_background >= every - 1
        core.granted_to(chosen, interactive=interactive, background=background)
        waiting[chosen] -= 1
        if chosen == BACKGROUND:
            since_background = 0
        elif background:
            since_background += 1
            # No starvation: never more than every - 1 interactive grants in a row over it.
            assert since_background <= every - 1
    assert core.contended == len(contended_run)
    assert core.background_ahead == contended_run.count(BACKGROUND)
    assert core.background_ahead <= -(-len(contended_run) // every)


def test_share_every_and_its_bounds() -> None:
    assert share_every(0.5) == 2
    assert share_every(0.25) == 4
    assert share_every(0.1) == 10
    for bad in (0.0, 0.6, -1.0):
        with pytest.raises(ValueError):
            share_every(bad)
    with pytest.raises(ConfigError):
        RateLimitConfig(rules=(), min_interval=1, background_share=0.75)


# -- the limiter's line -----------------------------------------------------------------------

EVERY_SECOND = RateLimitConfig(rules=(), min_interval=1.0, background_share=0.25)


async def order_of_grants(
    limiter: RateLimiter, requests: list[tuple[str, Priority]], *, first: set[str] = frozenset()
) -> list[str]:
    """Each request joins the line in turn (1 us apart) while the first grant is spaced out;
    the names in the order they were granted."""
    granted: list[str] = []
    await limiter.acquire()  # the budget is spent: everyone below waits in line

    async def one(name: str, priority: Priority) -> None:
        await limiter.acquire(key=name, priority=priority, first=name in first)
        granted.append(name)

    async with anyio.create_task_group() as tg:
        for name, priority in requests:
            tg.start_soon(one, name, priority)
            await anyio.sleep(1e-6)
    return granted


@pytest.mark.anyio
async def test_interactive_goes_first_fifo_within_a_class_and_background_gets_its_share() -> None:
    limiter = RateLimiter(EVERY_SECOND, clock=VirtualClock())
    requests: list[tuple[str, Priority]] = [(f"b{i}", BACKGROUND) for i in range(4)]
    requests += [(f"i{i}", INTERACTIVE) for i in range(8)]
    granted = await order_of_grants(limiter, requests)
    # One in every four grants goes to background while both wait; FIFO within each class.
    assert granted == ["i0", "i1", "i2", "b0", "i3", "i4", "i5", "b1", "i6", "i7", "b2", "b3"]
    stats = limiter.stats()
    assert stats.background_grants == 4
    assert stats.contended_grants == 10
    assert stats.background_ahead == 2


@pytest.mark.anyio
async def test_without_a_share_the_line_ignores_classes() -> None:
    config = RateLimitConfig(rules=(), min_interval=1.0)
    limiter = RateLimiter(config, clock=VirtualClock())
    requests: list[tuple[str, Priority]] = [("b0", BACKGROUND), ("i0", INTERACTIVE)]
    requests += [("b1", BACKGROUND), ("i1", INTERACTIVE)]
    assert await order_of_grants(limiter, requests) == ["b0", "i0", "b1", "i1"]
    stats = limiter.stats()
    assert (stats.background_grants, stats.contended_grants, stats.background_ahead) == (2, 0, 0)


@pytest.mark.anyio
async def test_a_retry_after_a_429_goes_before_both_classes() -> None:
    limiter = RateLimiter(EVERY_SECOND, clock=VirtualClock())
    requests: list[tuple[str, Priority]] = [("b0", BACKGROUND), ("i0", INTERACTIVE)]
    requests += [("retry", BACKGROUND), ("i1", INTERACTIVE)]
    granted = await order_of_grants(limiter, requests, first={"retry"})
    assert granted == ["retry", "i0", "i1", "b0"]


@pytest.mark.anyio
async def test_the_class_comes_from_the_context_variable() -> None:
    limiter = RateLimiter(EVERY_SECOND, clock=VirtualClock())
    granted: list[str] = []
    await limiter.acquire()

    async def one(name: str, background: bool) -> None:
        token = FETCH_PRIORITY.set(BACKGROUND) if background else None
        try:
            await limiter.acquire(key=name)
        finally:
            if token is not None:
                FETCH_PRIORITY.reset(token)
        granted.append(name)

    async with anyio.create_task_group() as tg:
        tg.start_soon(one, "refresh", True)
        await anyio.sleep(1e-6)
        tg.start_soon(one, "person", False)
    assert granted == ["person", "refresh"]
    assert limiter.stats().background_grants == 1


@pytest.mark.anyio
async def test_background_never_starves_under_sustained_interactive_load() -> None:
    limiter = RateLimiter(EVERY_SECOND, clock=VirtualClock())
    start = anyio.current_time()
    done: dict[str, float] = {}
    await limiter.acquire()  # the budget is spent: the next grant is at 1 s

    async def one(name: str, priority: Priority) -> None:
        await limiter.acquire(key=name, priority=priority)
        done[name] = anyio.current_time() - start

    async with anyio.create_task_group() as tg:
        tg.start_soon(one, "refresh", BACKGROUND)
        for i in range(40):  # two interactive arrivals a second: the line never empties
            tg.start_soon(one, f"i{i:02d}", INTERACTIVE)
            await anyio.sleep(0.5)
    # The fourth grant (one in every four) at 4 s, not after the forty interactive ones.
    assert done["refresh"] == pytest.approx(4.0, abs=1e-3)
    assert limiter.stats().background_ahead == 1


@pytest.mark.anyio
async def test_a_cancelled_background_head_passes_its_turn_on() -> None:
    limiter = RateLimiter(EVERY_SECOND, clock=VirtualClock())
    granted: list[str] = []
    await limiter.acquire()

    async def one(name: str, priority: Priority) -> None:
        await limiter.acquire(key=name, priority=priority)
        granted.append(name)

    doomed = anyio.CancelScope()
    async with anyio.create_task_group() as tg:
        tg.start_soon(_cancellable, limiter, doomed)
        await anyio.sleep(1e-6)
        for name, priority in [("b1", BACKGROUND), ("i0", INTERACTIVE), ("i1", INTERACTIVE)]:
            tg.start_soon(one, name, priority)
            await anyio.sleep(1e-6)
        tg.start_soon(one, "i2", INTERACTIVE)
        tg.start_soon(one, "i3", INTERACTIVE)
        await anyio.sleep(3.5)  # i0, i1, i2 granted; b0 is the head, sleeping towards 4 s
        doomed.cancel()  # b0 leaves: its turn passes to b1, the next background waiter
    assert granted == ["i0", "i1", "i2", "b1", "i3"]


async def _cancellable(limiter: RateLimiter, scope: anyio.CancelScope) -> None:
    with scope:
        await limiter.acquire(key="b0", priority=BACKGROUND)


# -- the engine: the class travels from the caller ----------------------------------------------


@pytest.mark.anyio
async def test_engine_upstream_passes_the_class_to_the_limiter() -> None:
    rate = RateLimitConfig(rules=(WindowRule(limit=80, window=60),), min_interval=0.75)
    config = engine_config(rate=msgspec.structs.replace(rate, background_share=0.1))
    order: list[str] = []
    async with Engine(config, clock=VirtualClock(), seed=1) as engine:

        def fetch(name: str):  # type: ignore[no-untyped-def]
            async def run() -> str:
                order.append(name)
                return name

            return run

        await engine.upstream("warm-up", fetch("warm-up"))
        async with anyio.create_task_group() as tg:
            for i in range(3):
                tg.start_soon(
                    lambda i=i: engine.upstream(
                        f"prewarm-{i}", fetch(f"prewarm-{i}"), priority="background"
                    )
                )
                await anyio.sleep(1e-6)
            for i in range(3):
                tg.start_soon(lambda i=i: engine.upstream(f"person-{i}", fetch(f"person-{i}")))
                await anyio.sleep(1e-6)
        stats = engine.stats().rate
    assert order == ["warm-up", "person-0", "person-1", "person-2"] + [
        f"prewarm-{i}" for i in range(3)
    ]
    assert stats.background_grants == 3
    assert stats.background_ahead == 0
