"""The shared limiter's pause, against a real redis-server and the in-process twin (real time):
a non-finite pause is refused, the engine bounds a 429's pause by ``max_retry_after`` on every
instance, the longest pause accepted survives the script's arithmetic, and a retry after a 429
takes the next turn in the local line."""

from __future__ import annotations

import math

import anyio
import pytest
from conftest import FAST, Tier

from engine import Engine, RateLimited, RetryConfig
from engine.limits import MAX_PAUSE, RateLimitConfig, RateLimitTimeout, WindowRule
from engine.shared import RedisRateLimiter, SharedBackend
from tests.engine_configs import engine_config

pytestmark = pytest.mark.anyio

RULES = RateLimitConfig(rules=(WindowRule(limit=50, window=1.0),), min_interval=0.02)


def limiter(tier: Tier, backend: SharedBackend, log: list[float] | None = None) -> RedisRateLimiter:
    return RedisRateLimiter(
        backend,
        RULES,
        clock=tier.clock,
        name="pause",
        settings=FAST,
        on_grant=None if log is None else log.append,
    )


@pytest.mark.parametrize("seconds", [math.inf, -math.inf, math.nan, MAX_PAUSE * 2])
async def test_an_endless_pause_is_refused_and_changes_nothing(tier: Tier, seconds: float) -> None:
    grants: list[float] = []
    async with tier.connect() as backend:
        shared = limiter(tier, backend, grants)
        await shared.acquire()
        with pytest.raises(ValueError, match="finite"):
            shared.pause(seconds)
        started = anyio.current_time()
        with anyio.fail_after(5):
            await shared.acquire()
        assert anyio.current_time() - started < 0.5
        stats = shared.stats()
    assert stats.errors == 0 and stats.fallbacks == 0  # nothing reached the script
    assert len(grants) == 2


async def test_a_negative_pause_pauses_nothing(tier: Tier) -> None:
    async with tier.connect() as backend:
        shared = limiter(tier, backend)
        await shared.acquire()
        shared.pause(-30)
        shared.pause(0)
        started = anyio.current_time()
        await shared.acquire()
        assert anyio.current_time() - started < 0.3


async def test_the_longest_pause_accepted_survives_the_scripts_arithmetic(tier: Tier) -> None:
    async with tier.connect() as backend:
        shared = limiter(tier, backend)
        await shared.acquire()
        shared.pause(MAX_PAUSE)
        now = anyio.current_time()
        with pytest.raises(RateLimitTimeout) as info:
            await shared.acquire(deadline=now + 1)
        assert shared.stats().errors == 0
    assert info.value.next_allowed == pytest.approx(now + MAX_PAUSE, abs=5)


@pytest.mark.parametrize("retry_after", [86400.0, math.inf])
async def test_a_429_pauses_every_instance_for_at_most_max_retry_after(
    tier: Tier, retry_after: float
) -> None:
    """Instance A is told "Retry-After: a day" (or inf): its caller fails at once, and the
    pause every instance sees is max_retry_after (0.3 s), not a day, not forever."""
    config = engine_config(rate=RULES, retry=RetryConfig(max_retry_after=0.3))
    told: list[float] = []
    done: dict[str, float] = {}

    async def refused() -> str:
        told.append(anyio.current_time())
        raise RateLimited("429", retry_after=retry_after)

    async def fine() -> str:
        return "ok"

    async def call(engine: Engine, key: str) -> None:
        assert await engine.upstream(key, fine) == "ok"
        done[key] = anyio.current_time() - told[0]

    async with tier.connect() as a, tier.connect() as b:
        engines = [
            Engine(config, clock=tier.clock, seed=1, rate_limiter=limiter(tier, backend))
            for backend in (a, b)
        ]
        async with engines[0] as first, engines[1] as second:
            with pytest.raises(RateLimited):
                await first.upstream("a", refused)
            with anyio.fail_after(5):  # a pause of a day (or forever) fails here
                async with anyio.create_task_group() as tg:
                    # A's next script call carries the pause to the shared state...
                    tg.start_soon(call, first, "a2")
                    await anyio.sleep(0.1)
                    # ...where B, which knew nothing of the 429, meets it.
                    tg.start_soon(call, second, "b")
            assert first.stats().failures == 1 and first.stats().rate_limited == 1
            assert first.rate.stats().errors == 0  # no overflow reached the script
            assert second.rate.stats().errors == 0
    assert len(told) == 1  # the caller that got it was not retried
    assert 0.3 - 0.005 <= done["a2"] < 0.3 + 1.0
    assert 0.3 - 0.005 <= done["b"] < 0.3 + 1.0


async def test_a_retry_takes_the_next_turn_in_the_local_line(tier: Tier) -> None:
    order: list[str] = []
    async with tier.connect() as backend:
        shared = limiter(tier, backend)
        await shared.acquire()
        shared.pause(0.3)

        async def take(name: str, first: bool = False) -> None:
            await shared.acquire(first=first)
            order.append(name)

        async with anyio.create_task_group() as tg:
            for name in ("holder", "w1", "w2"):
                tg.start_soon(take, name)
                await anyio.sleep(0.01)
            tg.start_soon(take, "retry", True)
    # The holder was already talking to the backend (it keeps its turn); the retry goes next,
    # before the callers that were waiting for a turn.
    assert order == ["holder", "retry", "w1", "w2"]
