"""The shared budget holds through a failover, on a real Redis (killed and restarted, empty) and
on the twin (switched off, flushed): no window holds more grants than the budget at the failure
or at the recovery, and the first request after the recovery gets a shared grant."""

from __future__ import annotations

import json
import random
from typing import Any

import anyio
import msgspec
import pytest
from conftest import FAST, Tier

from engine.limits import RateLimitConfig, RateLimitTimeout, WindowRule
from engine.shared import RateState, RedisRateLimiter, SharedBackend, decide
from tests.engine_configs import RATE

pytestmark = pytest.mark.anyio

WINDOW = 0.6
BUDGET = RateLimitConfig(rules=(WindowRule(limit=20, window=WINDOW),), min_interval=0.001)
# Grants are timed when acquire() returns, a little after the script decided: a window this much
# shorter than the rule's absorbs that delay.
SLACK = 0.03


def most_in_a_window(times: list[float], window: float = WINDOW - SLACK) -> int:
    """The most grants any half-open window ``[t, t + window)`` holds."""
    times = sorted(times)
    most, first = 0, 0
    for last, at in enumerate(times):
        while times[first] <= at - window:
            first += 1
        most = max(most, last - first + 1)
    return most


def limiter(tier: Tier, backend: SharedBackend, **changes: object) -> RedisRateLimiter:
    settings = msgspec.structs.replace(FAST, **changes)
    return RedisRateLimiter(backend, BUDGET, clock=tier.clock, name="failover", settings=settings)


async def take_until(shared: RedisRateLimiter, grants: list[float], end: float) -> None:
    """Two callers take every grant they can get before ``end`` (monotonic)."""

    async def caller() -> None:
        while True:
            try:
                grants.append(await shared.acquire(deadline=end))
            except RateLimitTimeout:
                return

    async with anyio.create_task_group() as tg:
        tg.start_soon(caller)
        tg.start_soon(caller)


async def test_a_failure_mid_window_keeps_the_window_within_budget(tier: Tier) -> None:
    """15 shared grants, then the backend dies: the local share (10 per window) counts them,
    so it grants nothing until they leave the window (before: 15 + a fresh 10 = 25)."""
    grants: list[float] = []
    async with tier.connect() as backend:
        shared = limiter(tier, backend)
        for _ in range(15):
            grants.append(await shared.acquire())
        tier.outage()
        for _ in range(10):
            grants.append(await shared.acquire())
        with pytest.raises(RateLimitTimeout):  # the local share is used up
            await shared.acquire(deadline=anyio.current_time() + 0.1)
    assert most_in_a_window(grants) <= 20
    stats = shared.stats()
    assert (stats.shared_grants, stats.fallback_grants, stats.fallbacks) == (15, 10, 1)
    assert grants[15] >= grants[5] + WINDOW  # when the 6th shared grant left the window


async def test_a_restart_relearns_the_window_and_serves_the_next_request(tier: Tier) -> None:
    """15 shared grants, an outage with local grants, then the backend returns empty: the
    script learns the shared and local grants of the current window from the next call, which
    is itself a shared grant (before: the next request waited for the local limiter, and the
    empty script granted 20 more in a window already holding 10 local ones)."""
    grants: list[float] = []
    async with tier.connect() as backend:
        shared = limiter(tier, backend)
        for _ in range(15):
            grants.append(await shared.acquire())
        tier.outage()
        for _ in range(10):
            grants.append(await shared.acquire())
        assert most_in_a_window(grants) <= 20
        with pytest.raises(RateLimitTimeout):  # tries the backend (in vain) and the local share
            await shared.acquire(deadline=anyio.current_time() + 0.01)
        tier.restore()
        back = anyio.current_time()
        grants.append(await shared.acquire())
        assert anyio.current_time() - back < 0.1
        assert shared.stats().shared_grants == 16  # the next request, not retry_after later
        await take_until(shared, grants, back + 1.2 * WINDOW)
    assert most_in_a_window(grants) <= 20
    stats = shared.stats()
    assert stats.fallback_grants == 10 and stats.errors >= 11
    # The budget is used, no more: 10 at once, 10 as the local grants leave the window.
    assert len(grants) >= 15 + 10 + 20


async def test_a_recovery_counts_the_local_grants_in_the_window(tier: Tier) -> None:
    """Down from the start: 10 local grants; the backend returns, empty, and the script counts
    them (before: it granted a whole budget more in their window, 30)."""
    grants: list[float] = []
    async with tier.connect() as backend:
        shared = limiter(tier, backend)
        tier.outage()
        for _ in range(10):
            grants.append(await shared.acquire())
        tier.restore()
        await take_until(shared, grants, anyio.current_time() + 0.1)
        assert most_in_a_window(grants) <= 20
        assert len(grants) >= 20  # 10 more at once
        await take_until(shared, grants, grants[9] + WINDOW + 0.1)
    assert most_in_a_window(grants) <= 20
    assert len(grants) >= 30  # 10 more as the local ones leave the window


async def test_the_first_request_after_a_recovery_gets_a_shared_grant(tier: Tier) -> None:
    """A call failed just now, and the backend is back: the next request asks it at once
    rather than ``retry_after`` later (before: a local grant, or a wait for one)."""
    async with tier.connect() as backend:
        shared = limiter(tier, backend, retry_after=30.0)
        tier.outage()
        await shared.acquire()
        assert shared.stats().fallback_grants == 1
        tier.restore()
        asked = anyio.current_time()
        await shared.acquire()
        assert shared.stats().shared_grants == 1
        assert anyio.current_time() - asked < 0.1


async def test_a_restart_while_idle_does_not_reset_the_window(tier: Tier) -> None:
    """The backend restarts, empty, between two requests: no call failed, yet the script
    learns this instance's grants of the current window again (before: 20 more at once)."""
    grants: list[float] = []
    async with tier.connect() as backend:
        shared = limiter(tier, backend)
        started = anyio.current_time()
        for _ in range(20):
            grants.append(await shared.acquire())
        tier.outage()
        tier.restore()
        await take_until(shared, grants, started + 1.5 * WINDOW)
    assert most_in_a_window(grants) <= 20
    assert min(grants[20:]) >= grants[0] + WINDOW - SLACK
    assert shared.stats().shared_grants == len(grants) >= 30


async def test_a_blip_that_keeps_the_state_counts_the_local_grants_once(tier: Tier) -> None:
    """The backend fails, the state survives (a network blip, here: this instance's calls
    fail): local grants are recorded once, shared ones are not counted twice."""
    grants: list[float] = []
    async with tier.connect() as backend:
        blip = Blip(backend)
        shared = RedisRateLimiter(
            blip,
            BUDGET,
            clock=tier.clock,
            name="blip",
            settings=FAST,  # type: ignore[arg-type]
        )
        started = anyio.current_time()
        for _ in range(5):
            grants.append(await shared.acquire())
        blip.down = True
        await take_until(shared, grants, started + 0.5 * WINDOW)
        assert shared.stats().fallback_grants == 5  # 10 per window, 5 of them already taken
        blip.down = False
        await take_until(shared, grants, started + 2.5 * WINDOW)
    assert most_in_a_window(grants) <= 20
    # Counted once each: the windows after the blip are full again.
    assert len(grants) >= 10 + 20 + 10


class Blip:
    """A backend whose limiter calls fail while ``down``; its state stays where it was."""

    def __init__(self, backend: SharedBackend) -> None:
        self.backend = backend
        self.down = False

    async def rate_decide(self, key: str, **arguments: object):  # type: ignore[no-untyped-def]
        if self.down:
            raise ConnectionError("blip")
        return await self.backend.rate_decide(key, **arguments)  # type: ignore[arg-type]


async def test_a_limiter_has_a_default_name_and_settings(tier: Tier) -> None:
    async with tier.connect() as backend:
        shared = RedisRateLimiter(backend, RATE, clock=tier.clock, name="defaults", settings=FAST)
        await shared.acquire()
        assert shared.stats().shared_grants == 1
        default = RedisRateLimiter(backend, RATE, clock=tier.clock)
        assert default.key == "engine:rate:upstream"


async def test_the_script_and_its_twin_merge_a_callers_grants_alike(tier: Tier) -> None:
    """Random calls carrying known grants (some held, some lost with the state) and local
    ones' ages, under two rules: Redis and :func:`decide` answer alike, state for state."""
    rng = random.Random(7)
    rules = [(3, 1000), (5, 4000)]
    expected = RateState()
    mine: list[int] = []  # "this caller's" grants, as recorded
    now = 1_767_225_600_000
    key = "test:rate:merge"
    async with tier.connect() as backend:
        for _ in range(400):
            now += rng.choice([0, 1, 40, 200, 333, 1000, 2500])
            if rng.random() < 0.05:  # the state is lost: a restart, an eviction
                await backend.delete([key])
                expected = RateState()
            known = [t for t in mine if rng.random() < 0.8]
            ages = sorted(rng.sample(range(0, 5000), rng.choice([0, 0, 0, 1, 3])))
            arguments: dict[str, Any] = {
                "now_ms": now,
                "min_interval_ms": 100,
                "pause_ms": rng.choice([0] * 30 + [700]),
                "rules": rules,
                "known_ms": known,
                "ages_ms": ages,
            }
            got = await backend.rate_decide(key, **arguments)
            want = decide(expected, **arguments)
            assert got == want
            mine += [now - age + 1 for age in ages]
            if got.granted and rng.random() < 0.5:
                mine.append(now + 1)
            mine = sorted(mine)[-8:]
        if tier.real:
            (raw,) = await backend.get_many([key])
            assert raw is not None
            state = json.loads(raw)
            assert state["logs"] == expected.logs and state.get("last") == expected.last
