"""The async RateLimiter in virtual time, on both backends."""

from __future__ import annotations

import itertools

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.clock import VirtualClock
from engine.limits import RateLimitConfig, RateLimiter, RateLimitTimeout, WindowRule
from engine.virtual import BACKENDS, run_virtual
from tests.engine.test_rate_schedule import violations
from tests.engine_configs import RATE

pytestmark = pytest.mark.anyio


async def grant_times(limiter: RateLimiter, n: int) -> list[float]:
    grants: list[tuple[int, float]] = []

    async def one(i: int) -> None:
        grants.append((i, await limiter.acquire()))

    async with anyio.create_task_group() as tg:
        for i in range(n):
            tg.start_soon(one, i)
            await anyio.sleep(1e-6)  # distinct arrival instants: FIFO order is then defined
    assert [i for i, _ in grants] == list(range(n)), "not served first come, first served"
    return [t for _, t in grants]


async def test_seed_config_spreads_a_burst_evenly() -> None:
    limiter = RateLimiter(RATE, clock=VirtualClock())
    times = await grant_times(limiter, 100)
    assert violations(times, limiter.config) == []
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) == pytest.approx(0.75)
    assert max(gaps) == pytest.approx(0.75)  # 80/min never binds at 0.75 s spacing
    stats = limiter.stats()
    assert stats.granted == 100
    assert stats.waited == 99
    assert stats.max_queue == 99
    assert stats.queue == 0


async def test_window_rule_binds_when_spacing_allows_bursts() -> None:
    config = RateLimitConfig(rules=(WindowRule(limit=5, window=10),), min_interval=0.5)
    limiter = RateLimiter(config, clock=VirtualClock())
    start = anyio.current_time()
    times = [t - start for t in await grant_times(limiter, 12)]
    assert times == pytest.approx([0, 0.5, 1, 1.5, 2, 10, 10.5, 11, 11.5, 12, 20, 20.5], abs=1e-4)


async def test_cancelled_waiter_consumes_nothing_and_delays_nobody() -> None:
    limiter = RateLimiter(RATE, clock=VirtualClock())
    start = anyio.current_time()
    got: dict[str, float] = {}

    async def take(name: str, scope: anyio.CancelScope | None = None) -> None:
        if scope is None:
            got[name] = await limiter.acquire() - start
            return
        with scope:
            got[name] = await limiter.acquire() - start

    head_scope, middle_scope = anyio.CancelScope(), anyio.CancelScope()
    async with anyio.create_task_group() as tg:
        tg.start_soon(take, "first")
        await anyio.sleep(0.01)
        tg.start_soon(take, "head", head_scope)  # would be granted at 0.75
        await anyio.sleep(0.01)
        tg.start_soon(take, "middle", middle_scope)  # would be granted at 1.5
        await anyio.sleep(0.01)
        tg.start_soon(take, "last")
        await anyio.sleep(0.3)
        head_scope.cancel()
        middle_scope.cancel()
    assert got == pytest.approx({"first": 0.0, "last": 0.75})
    assert limiter.stats().granted == 2
    assert limiter.stats().queue == 0


async def test_deadline_fails_fast_when_the_grant_would_come_too_late() -> None:
    limiter = RateLimiter(RATE, clock=VirtualClock())
    now = anyio.current_time()
    await limiter.acquire()
    with pytest.raises(RateLimitTimeout) as info:
        await limiter.acquire(deadline=now + 0.5)
    assert info.value.next_allowed == pytest.approx(now + 0.75)
    assert anyio.current_time() == now  # it did not sleep towards a hopeless grant
    assert await limiter.acquire(deadline=now + 0.75) == pytest.approx(now + 0.75)
    assert limiter.stats().timeouts == 1


async def test_deadline_of_a_waiter_behind_others() -> None:
    limiter = RateLimiter(RATE, clock=VirtualClock())
    now = anyio.current_time()
    outcomes: dict[int, object] = {}

    async def take(i: int, deadline: float | None) -> None:
        try:
            outcomes[i] = await limiter.acquire(deadline=deadline) - now
        except RateLimitTimeout:
            outcomes[i] = "timeout"

    async with anyio.create_task_group() as tg:
        for i, deadline in enumerate([None, None, None, now + 1.0, None]):
            tg.start_soon(take, i, deadline)
            await anyio.sleep(1e-6)
    # #3 would be served at 2.25 > its deadline; #4 takes its place at 2.25.
    assert outcomes == pytest.approx({0: 0.0, 1: 0.75, 2: 1.5, 3: "timeout", 4: 2.25}, abs=1e-4)
    assert limiter.stats().queue == 0


async def test_pause_holds_back_every_waiter() -> None:
    limiter = RateLimiter(RATE, clock=VirtualClock())
    start = anyio.current_time()
    await limiter.acquire()
    limiter.pause(30)  # an upstream answered 429 with Retry-After: 30
    times = [t - start for t in await grant_times(limiter, 3)]
    assert times == pytest.approx([30, 30.75, 31.5], abs=1e-4)


async def test_uncontended_acquire_does_not_wait() -> None:
    limiter = RateLimiter(RateLimitConfig(rules=(), min_interval=0), clock=VirtualClock())
    now = anyio.current_time()
    for _ in range(1000):
        assert await limiter.acquire() == now
    assert limiter.stats().waited == 0


# --- property: random arrivals, cancellations and deadlines -----------------------------------

requests = st.lists(
    st.tuples(
        st.integers(0, 20_000),  # arrival, ms
        st.one_of(st.none(), st.integers(1, 10_000)),  # gives up after, ms (+ an odd offset)
    ),
    min_size=1,
    max_size=40,
)
config_choices = st.sampled_from(
    [
        RATE,
        RateLimitConfig(rules=(WindowRule(limit=3, window=2.0),), min_interval=0.1),
        RateLimitConfig(
            rules=(WindowRule(limit=2, window=1.0), WindowRule(limit=4, window=5.0)), min_interval=0
        ),
    ]
)


def replay(config: RateLimitConfig, plan: list[tuple[int, int | None]], backend: str):
    arrivals = sorted(plan, key=lambda request: request[0])

    async def main() -> tuple[list[tuple[int, float]], int]:
        limiter = RateLimiter(config, clock=VirtualClock())
        grants: list[tuple[int, float]] = []

        async def request(i: int, patience: int | None) -> None:
            # The odd offset keeps give-up instants off the grant instants: no ties to break.
            timeout = float("inf") if patience is None else patience / 1000 + 0.000123
            with anyio.move_on_after(timeout):
                grants.append((i, await limiter.acquire()))

        with anyio.fail_after(10_000):
            async with anyio.create_task_group() as tg:
                for i, (at_ms, patience) in enumerate(arrivals):
                    await anyio.sleep_until(at_ms / 1000 + i * 1e-7)
                    tg.start_soon(request, i, patience)
        return grants, limiter.stats().queue

    grants, queue_left = run_virtual(main, backend=backend)  # type: ignore[arg-type]
    return arrivals, grants, queue_left


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(config=config_choices, plan=requests)
def test_property_rules_hold_fifo_and_work_conserving(
    backend: str, config: RateLimitConfig, plan: list[tuple[int, int | None]]
) -> None:
    arrivals, grants, queue_left = replay(config, plan, backend)
    times = [t for _, t in grants]
    assert queue_left == 0
    assert violations(times, config) == []
    # FIFO: grants come in arrival order.
    assert [i for i, _ in grants] == sorted(i for i, _ in grants)
    # Work-conserving: each grant is at the earliest instant the rules and FIFO allow.
    for k, (i, t) in enumerate(grants):
        earliest = arrivals[i][0] / 1000 + i * 1e-7
        if k:
            earliest = max(earliest, times[k - 1] + config.min_interval)
        for rule in config.rules:
            if k >= rule.limit:
                earliest = max(earliest, times[k - rule.limit] + rule.window)
        assert t == pytest.approx(earliest, abs=1e-6), (k, i)
    # Whoever was never granted gave up: with no patience limit you are always served.
    never = {i for i, (_, patience) in enumerate(arrivals) if patience is None}
    assert never <= {i for i, _ in grants}
