"""The shared rate limiter: the Lua script and its Python twin agree, the budget holds across
instances, a pause spreads, and an outage falls back to a local share of the budget."""

from __future__ import annotations

import itertools
import random

import anyio
import msgspec
import pytest
from conftest import FAST, Tier

from engine.limits import RateLimitConfig, RateLimitTimeout, WindowRule
from engine.shared import RateState, RedisRateLimiter, SharedBackend, decide

pytestmark = pytest.mark.anyio

RULES = RateLimitConfig(rules=(WindowRule(limit=5, window=0.3),), min_interval=0.02)


def limiter(
    tier: Tier, backend: SharedBackend, log: list[float], **changes: object
) -> RedisRateLimiter:
    """A limiter named ``t`` on ``backend``, logging its grants (on the script's clock)."""
    settings = msgspec.structs.replace(FAST, **changes)
    return RedisRateLimiter(
        backend, RULES, clock=tier.clock, name="t", settings=settings, on_grant=log.append
    )


def check_budget(grants: list[float], config: RateLimitConfig) -> None:
    times = sorted(round(t * 1000) for t in grants)
    for earlier, later in itertools.pairwise(times):
        assert later - earlier >= config.min_interval * 1000
    for rule in config.rules:
        for first, last in zip(times, times[rule.limit :], strict=False):
            assert last - first >= rule.window * 1000


async def test_the_script_and_its_python_twin_decide_alike(tier: Tier) -> None:
    rng = random.Random(3)
    rules = [(3, 1000), (5, 4000)]
    expected = RateState()
    now = 1_767_225_600_000
    async with tier.connect() as backend:
        for _ in range(300):
            now += rng.choice([0, 1, 50, 200, 333, 1000])
            pause = rng.choice([0] * 20 + [700])
            got = await backend.rate_decide(
                "test:rate:twin", now_ms=now, min_interval_ms=100, pause_ms=pause, rules=rules
            )
            want = decide(expected, now_ms=now, min_interval_ms=100, pause_ms=pause, rules=rules)
            assert got == want
        server = await backend.rate_decide(
            "test:rate:clock", now_ms=None, min_interval_ms=0, pause_ms=0, rules=[]
        )
        assert server.granted and abs(server.now_ms / 1000 - tier.clock.wall()) < 5


async def test_concurrent_instances_never_exceed_the_budget(tier: Tier) -> None:
    grants: list[float] = []
    async with tier.connect() as a, tier.connect() as b, tier.connect() as c:
        limiters = [limiter(tier, backend, grants) for backend in (a, b, c)]
        started = anyio.current_time()
        async with anyio.create_task_group() as tg:
            for i in range(18):
                tg.start_soon(lambda i=i: limiters[i % 3].acquire())
        elapsed = anyio.current_time() - started
    assert len(grants) == 18
    check_budget(grants, RULES)
    assert elapsed < 3 * 0.3 + 1.0  # 18 grants need 3 full windows; the limiter is not idle
    assert sum(lim.stats().shared_grants for lim in limiters) == 18
    assert max(lim.stats().max_queue for lim in limiters) >= 5  # local FIFO line formed


async def test_local_waiters_are_served_first_come_first_served(tier: Tier) -> None:
    order: list[int] = []
    async with tier.connect() as backend:
        shared = limiter(tier, backend, [])
        async with anyio.create_task_group() as tg:
            for i in range(7):

                async def one(i: int = i) -> None:
                    await shared.acquire()
                    order.append(i)

                tg.start_soon(one)
                await anyio.sleep(0.001)
    assert order == list(range(7))


async def test_a_pause_reaches_every_instance(tier: Tier) -> None:
    grants: list[float] = []
    async with tier.connect() as a, tier.connect() as b:
        first, second = limiter(tier, a, grants), limiter(tier, b, grants)
        await first.acquire()
        first.pause(0.3)
        await first.acquire()  # carries the pause to the shared state, then waits it out
        started = anyio.current_time()
        await second.acquire()
    assert grants[1] - grants[0] >= 0.29
    assert grants[2] - grants[1] >= 0.019
    assert anyio.current_time() - started < 0.3


async def test_a_deadline_too_close_raises_without_a_grant(tier: Tier) -> None:
    grants: list[float] = []
    async with tier.connect() as backend:
        shared = limiter(tier, backend, grants)
        for _ in range(5):
            await shared.acquire()
        with pytest.raises(RateLimitTimeout):
            await shared.acquire(deadline=anyio.current_time() + 0.05)
    assert len(grants) == 5 and shared.stats().timeouts == 1


async def test_an_outage_falls_back_to_a_local_share_and_recovers(tier: Tier) -> None:
    grants: list[float] = []
    async with tier.connect() as backend:
        shared = limiter(tier, backend, grants, fallback_share=0.4)
        await shared.acquire()
        tier.outage()
        for _ in range(3):
            await shared.acquire()  # the local limiter: 2 per 0.3 s, 0.05 s apart
        stats = shared.stats()
        assert stats.fallbacks == 1 and stats.fallback_grants == 3 and stats.errors >= 1
        tier.restore()
        await anyio.sleep(FAST.retry_after)
        with anyio.fail_after(5):
            while shared.stats().shared_grants < 2:
                await shared.acquire()
    assert shared.stats().shared_grants >= 2 and len(grants) >= 2
