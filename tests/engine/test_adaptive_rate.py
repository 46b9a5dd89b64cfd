"""The adaptive rate: the AIMD core's guarantees (property tests) and a limiter that learns an
upstream's unpublished limit, in virtual time on both backends."""

from __future__ import annotations

import math
from collections import deque
from functools import partial

import anyio
import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.clock import VirtualClock
from engine.config import ConfigError
from engine.limits import RateLimitConfig, RateLimiter, RateLimiting, RateSchedule, WindowRule
from engine.limits.adaptive import AdaptiveRate
from engine.limits.config import AdaptiveRateConfig
from engine.shared import InProcessRedis, RedisRateLimiter, SharedTierConfig

BUDGET = RateLimitConfig(rules=(WindowRule(limit=80, window=60),), min_interval=0.75)
ADAPTIVE = AdaptiveRateConfig()  # floor 0.25, ceiling 2.0, decrease 0.9, increase 0.75

events = st.lists(
    st.one_of(
        st.tuples(st.just("ok"), st.booleans()),
        st.tuples(st.just("429"), st.floats(0, 5)),
    ),
    max_size=300,
)


@given(script=events, gap=st.floats(0.01, 3))
def test_the_scale_stays_in_bounds_and_the_rules_follow_it(
    script: list[tuple[str, object]], gap: float
) -> None:
    core = AdaptiveRate(ADAPTIVE, BUDGET)
    now = 0.0
    for kind, arg in script:
        now += gap
        if kind == "ok":
            core.on_success(waiting=bool(arg))
        else:
            core.on_rate_limited(now, sent_rate=float(arg))  # type: ignore[arg-type]
        assert ADAPTIVE.floor <= core.scale <= ADAPTIVE.ceiling
        (limit,), interval = core.rules
        assert limit == max(1, math.floor(80 * core.scale))
        assert interval == pytest.approx(0.75 / core.scale)


@given(scale_steps=st.integers(0, 500), sent=st.floats(0.05, 3))
def test_a_429_puts_the_rate_below_the_rate_that_drew_it(scale_steps: int, sent: float) -> None:
    core = AdaptiveRate(ADAPTIVE, BUDGET)
    for _ in range(scale_steps):
        core.on_success(waiting=True)
    before = core.rate
    core.on_rate_limited(100.0, sent_rate=sent)
    drew = min(before, sent)
    floor_rate = ADAPTIVE.floor * core.base_rate
    assert core.rate == pytest.approx(max(0.9 * drew, floor_rate))
    assert core.rate < drew or core.rate == pytest.approx(floor_rate)


def test_the_429s_of_one_burst_are_one_signal() -> None:
    core = AdaptiveRate(ADAPTIVE, BUDGET)
    assert core.on_rate_limited(10.0)
    once = core.rate
    # Requests already in flight come back 429 too: within two grants at the new rate, ignored.
    assert not core.on_rate_limited(10.0 + 1.0 / once)
    assert core.rate == once and core.decreases == 1
    assert core.on_rate_limited(10.0 + 2.0 / once)
    assert core.rate == pytest.approx(0.9 * once)


def test_successes_raise_the_rate_only_while_work_waits() -> None:
    core = AdaptiveRate(ADAPTIVE, BUDGET)
    start = core.rate * 60  # requests a minute
    for _ in range(100):
        core.on_success(waiting=False)
    assert core.rate * 60 == start
    # Saturated minutes without a 429: +0.75, +1.5, +3 requests a minute (the step doubles).
    gained = []
    for _ in range(3):
        before = core.rate * 60
        for _ in range(round(before)):
            core.on_success(waiting=True)
        gained.append(core.rate * 60 - before)
    assert gained == pytest.approx([0.75, 1.5, 3], rel=0.05)
    # A 429 starts the probing again at the first step.
    core.on_rate_limited(1000.0)
    before = core.rate * 60
    for _ in range(round(before)):
        core.on_success(waiting=True)
    assert core.rate * 60 - before == pytest.approx(0.75, rel=0.05)


def test_the_configuration_is_checked() -> None:
    with pytest.raises(ConfigError, match=r"AdaptiveRateConfig\.floor"):
        AdaptiveRateConfig(floor=3, ceiling=2)
    with pytest.raises(ConfigError, match=r"AdaptiveRateConfig\.decrease"):
        AdaptiveRateConfig(decrease=1.0)
    assert "scale 1.000" in repr(AdaptiveRate(ADAPTIVE, BUDGET))


def test_rescaling_keeps_the_most_recent_grants() -> None:
    schedule = RateSchedule(
        RateLimitConfig(rules=(WindowRule(limit=4, window=10),), min_interval=0)
    )
    for t in (0.0, 1.0, 2.0, 3.0):
        assert schedule.try_grant(t)
    schedule.rescale((2,), 0.5)
    assert schedule.next_allowed(3.0) == 12.0  # the 2nd most recent grant (2.0) + 10
    schedule.rescale((6,), 0.5)
    assert schedule.next_allowed(3.0) == 3.5  # room again; the new interval applies
    with pytest.raises(ValueError):
        schedule.rescale((1, 2), 0)


# -- learning an upstream's limit ------------------------------------------------------------


class Upstream:
    """Admits at most ``limit`` requests in any ``window`` seconds (counting what it admitted)
    and answers the rest 429; the limit may change at given instants."""

    def __init__(self, phases: list[tuple[float, int]], window: float = 60.0) -> None:
        self.phases = phases
        self.window = window
        self.admitted: deque[float] = deque()
        self.log: list[tuple[float, bool]] = []

    def limit(self, now: float) -> int:
        return [limit for start, limit in self.phases if start <= now][-1]

    def answer(self, now: float) -> bool:
        while self.admitted and self.admitted[0] <= now - self.window:
            self.admitted.popleft()
        ok = len(self.admitted) < self.limit(now)
        if ok:
            self.admitted.append(now)
        self.log.append((now, ok))
        return ok


async def saturate(
    limiter: RateLimiting, upstream: Upstream, until: float, *, callers: int = 8
) -> None:
    """Keep ``callers`` callers asking (work always waits), each answer taking 0.1 s."""

    async def caller() -> None:
        while anyio.current_time() < until:
            await limiter.acquire()
            await anyio.sleep(0.1)
            if upstream.answer(anyio.current_time()):
                limiter.observe(rate_limited=False)
            else:
                limiter.observe(rate_limited=True)
                limiter.pause(1.0)

    async with anyio.create_task_group() as tg:
        for _ in range(callers):
            tg.start_soon(caller)


def phase_figures(upstream: Upstream, start: float, end: float, limit: int) -> tuple[float, float]:
    """Share of the true limit used (admitted / allowed) and share of requests answered 429."""
    answers = [ok for at, ok in upstream.log if start <= at < end]
    used = sum(answers) / (limit * (end - start) / upstream.window)
    return used, answers.count(False) / len(answers)


@pytest.mark.anyio
@pytest.mark.parametrize("true_limit", [50, 120])
async def test_the_limiter_learns_a_limit_it_was_not_told(true_limit: int) -> None:
    limiter = RateLimiter(
        RateLimitConfig(rules=BUDGET.rules, min_interval=BUDGET.min_interval, adaptive=ADAPTIVE),
        clock=VirtualClock(),
    )
    start = anyio.current_time()
    upstream = Upstream([(start, true_limit)])
    await saturate(limiter, upstream, start + 3600)
    # Judged after the first ten minutes of learning: at least 90 % of the true limit used,
    # under 1 % of requests refused.
    used, refused = phase_figures(upstream, start + 600, start + 3600, true_limit)
    assert used >= 0.9, used
    assert refused < 0.01, refused


@pytest.mark.anyio
async def test_a_fixed_budget_is_wrong_in_both_directions() -> None:
    """The same traffic through the fixed 80/min budget: above the true limit it draws 429s
    all the time; below it, a third of the capacity is unused."""
    for true_limit, check in ((50, "refused"), (120, "used")):
        limiter = RateLimiter(BUDGET, clock=VirtualClock())
        start = anyio.current_time()
        upstream = Upstream([(start, true_limit)])
        await saturate(limiter, upstream, start + 1800)
        used, refused = phase_figures(upstream, start + 600, start + 1800, true_limit)
        if check == "refused":
            assert refused > 0.2
        else:
            assert used < 0.7


@pytest.mark.anyio
async def test_the_limiter_follows_a_limit_that_changes() -> None:
    limiter = RateLimiter(
        RateLimitConfig(rules=BUDGET.rules, min_interval=BUDGET.min_interval, adaptive=ADAPTIVE),
        clock=VirtualClock(),
    )
    start = anyio.current_time()
    phases = [(start, 120), (start + 1800, 40), (start + 3600, 100)]
    upstream = Upstream(phases)
    await saturate(limiter, upstream, start + 5400)
    for (begin, limit), end in zip(phases, [start + 1800, start + 3600, start + 5400], strict=True):
        used, refused = phase_figures(upstream, begin + 600, end, limit)
        assert used >= 0.9, (limit, used)
        assert refused < 0.01, (limit, refused)


@pytest.mark.anyio
async def test_instances_sharing_a_budget_learn_the_limit_as_one() -> None:
    """Two instances, one budget, one upstream client admitting 50 a minute: they agree on one
    scale and together use at least 90 % of the limit. Each sends its changes at most a second
    late, so a few more requests draw a 429 than with one limiter: under 1.5 %."""
    clock = VirtualClock()
    twin = InProcessRedis(clock=clock)
    settings = SharedTierConfig(time_source="client")
    limiters = [
        RedisRateLimiter(
            twin,
            RateLimitConfig(
                rules=BUDGET.rules, min_interval=BUDGET.min_interval, adaptive=ADAPTIVE
            ),
            clock=clock,
            name="shared",
            settings=settings,
        )
        for _ in range(2)
    ]
    start = anyio.current_time()
    upstream = Upstream([(start, 50)])
    until = start + 2400

    async with anyio.create_task_group() as tg:
        for limiter in limiters:
            tg.start_soon(partial(saturate, limiter, upstream, until, callers=4))
    used, refused = phase_figures(upstream, start + 600, until, 50)
    assert used >= 0.9, used
    assert refused < 0.015, refused
    scales = [limiter.stats().adaptive_scale for limiter in limiters]
    assert scales[0] is not None and scales[0] == pytest.approx(scales[1], rel=0.05)
    assert scales[0] < 0.75  # learnt: 50/min is below 0.75 of the 80/min budget
