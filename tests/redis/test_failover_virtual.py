"""The issue's failover, exactly, in virtual time on the twin: a budget of 20 per 10 s, the tier
killed mid-run (before: 25 grants in one window) and restarted empty (before: 21)."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from engine import VirtualClock
from engine.limits import RateLimitConfig, RateLimitTimeout, WindowRule
from engine.shared import InProcessRedis, RedisRateLimiter, SharedTierConfig
from engine.virtual import BACKENDS, backend_options

pytestmark = pytest.mark.anyio

BUDGET = RateLimitConfig(rules=(WindowRule(limit=20, window=10.0),), min_interval=0.05)
SETTINGS = SharedTierConfig(time_source="client", retry_after=1.0)


@pytest.fixture(params=BACKENDS)
def anyio_backend(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
    """Virtual time again (this directory's conftest switches to real time)."""
    return request.param, backend_options(request.param, seed=0)


def most_in_a_window(times: list[float], window: float = 10.0) -> int:
    times = sorted(times)
    return max(sum(1 for t in times if start <= t < start + window) for start in times)


async def take_until(limiter: RedisRateLimiter, grants: list[float], end: float) -> None:
    """Three callers take every grant they can get before ``end``."""

    async def caller() -> None:
        while True:
            try:
                grants.append(await limiter.acquire(deadline=end))
            except RateLimitTimeout:
                return

    async with anyio.create_task_group() as tg:
        for _ in range(3):
            tg.start_soon(caller)


@pytest.mark.parametrize("loses_state", [True, False], ids=["restarted-empty", "kept-state"])
async def test_no_window_exceeds_the_budget_through_a_failure_and_a_recovery(
    loses_state: bool,
) -> None:
    clock = VirtualClock()
    twin = InProcessRedis(clock=clock)
    limiter = RedisRateLimiter(twin, BUDGET, clock=clock, settings=SETTINGS)
    grants: list[float] = []
    started = clock.monotonic()
    for _ in range(15):
        grants.append(await limiter.acquire())
    twin.available = False  # killed mid-run, 15 grants into the window
    await take_until(limiter, grants, started + 25.0)
    assert most_in_a_window(grants) <= 20
    assert limiter.stats().fallback_grants > 0
    if loses_state:
        twin.flush()
    twin.available = True
    back = clock.monotonic()
    grants.append(await limiter.acquire())
    assert limiter.stats().shared_grants == 16  # the very next request, through the script
    await take_until(limiter, grants, started + 60.0)
    assert most_in_a_window(grants) <= 20
    after = [t for t in grants if t >= back]
    assert most_in_a_window(after) == 20  # the whole budget again once the tier is back


async def test_the_cache_tier_leaves_a_failed_backend_alone_then_probes_it_once() -> None:
    """TieredStore on the breaker core: one failure opens it for retry_after; afterwards one
    call probes the tier, and its success brings the tier back."""
    from engine.cache import Entry, MemoryStore
    from engine.cache.keys import cache_key
    from engine.shared import RedisStore, TieredStore

    clock = VirtualClock()
    twin = InProcessRedis(clock=clock)
    shared = RedisStore(twin, clock=clock, config=SETTINGS)
    store = TieredStore(MemoryStore(clock=clock), shared, clock=clock, config=SETTINGS)
    key = cache_key("tracks", "k")
    twin.available = False
    assert await store.get(key) is None  # fails: the tier is left alone
    assert await store.get(key) is None  # not even asked
    stats = store.stats()
    assert (stats.shared_errors, stats.fallbacks, stats.shared_available) == (1, 1, False)
    assert "left alone" in repr(store)
    await anyio.sleep(SETTINGS.retry_after)
    twin.available = True
    assert "to be probed" in repr(store)
    await store.set(key, Entry("v", clock.wall() + 60))  # the probe: it goes through
    stats = store.stats()
    assert stats.shared_available and (stats.shared_errors, stats.fallbacks) == (1, 1)
    assert await shared.get(key) is not None and "up" in repr(store)
