"""One 429 can never stop everyone: the pause it imposes is bounded, a non-finite one is refused,
and the request that got it is the first granted when the pause ends. Virtual time, both
backends."""

from __future__ import annotations

import math

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import Engine, RateLimited, RetryConfig, VirtualClock
from engine.limits import MAX_PAUSE, RateLimitConfig, RateLimiter, RateSchedule, WindowRule
from engine.limits.line import Line
from engine.retry import RetryPolicy
from engine.virtual import BACKENDS, run_virtual
from tests.engine.test_rate_schedule import violations
from tests.engine_configs import RATE, engine_config

pytestmark = pytest.mark.anyio

INF = float("inf")
NAN = float("nan")


class Upstream:
    """Per-key scripted outcomes; records ``(key, instant)`` of every call."""

    def __init__(self, latency: float = 0.5, **scripts: list[object]) -> None:
        self.latency = latency
        self.scripts = scripts
        self.calls: list[tuple[str, float]] = []

    def fetch(self, key: str):  # type: ignore[no-untyped-def]
        async def call() -> object:
            self.calls.append((key, anyio.current_time()))
            await anyio.sleep(self.latency)
            script = self.scripts.get(key, [])
            outcome = script.pop(0) if script else f"value of {key}"
            if isinstance(outcome, BaseException):
                raise outcome
            return outcome

        return call

    def times(self, key: str) -> list[float]:
        return [round(t, 6) for k, t in self.calls if k == key]


# --- the policy: how long the caller waits, how long everyone else is paused ---------------------


@pytest.mark.parametrize(
    ("retry_after", "delay", "pause"),
    [
        (7.0, 7.0, 7.0),
        (60.0, 60.0, 60.0),
        (61.0, None, 60.0),  # the caller gives up; everyone else waits at most 60 s
        (86400.0, None, 60.0),
        (INF, None, 60.0),
        (NAN, None, 0.0),
        (-5.0, 0.0, 0.0),
        (0.0, 0.0, 0.0),
    ],
)
def test_policy_bounds_the_shared_pause_by_max_retry_after(
    retry_after: float, delay: float | None, pause: float
) -> None:
    policy = RetryPolicy(RetryConfig(max_retry_after=60))
    error = RateLimited("429", retry_after=retry_after)
    assert policy.delay(1, error, 0.5) == delay
    assert policy.pause(error) == pause


# --- the limiters refuse a pause that would stop everyone for good -----------------------------


@pytest.mark.parametrize("seconds", [INF, -INF, NAN, MAX_PAUSE * 2])
async def test_rate_limiter_refuses_an_endless_pause_and_keeps_granting(seconds: float) -> None:
    limiter = RateLimiter(RATE, clock=VirtualClock())
    start = anyio.current_time()
    await limiter.acquire()
    with pytest.raises(ValueError, match="finite"):
        limiter.pause(seconds)
    with anyio.fail_after(10):
        assert await limiter.acquire() == pytest.approx(start + 0.75)


async def test_rate_limiter_ignores_a_negative_pause_and_never_shortens_one() -> None:
    limiter = RateLimiter(RATE, clock=VirtualClock())
    start = anyio.current_time()
    await limiter.acquire()
    limiter.pause(-30)
    limiter.pause(0)
    assert await limiter.acquire() == pytest.approx(start + 0.75)
    limiter.pause(10)
    limiter.pause(2)
    assert await limiter.acquire() == pytest.approx(start + 10.75)


def test_schedule_refuses_a_pause_that_never_ends() -> None:
    schedule = RateSchedule(RATE)
    for until in (INF, NAN):
        with pytest.raises(ValueError):
            schedule.pause_until(until)
    assert schedule.next_allowed(5.0) == 5.0
    schedule.pause_until(30.0)
    assert schedule.next_allowed(5.0) == 30.0


# --- the engine: one 429 pauses everyone for at most max_retry_after ---------------------------


@pytest.mark.parametrize(
    ("retry_after", "a_retried_at", "b_called_at"),
    [
        # Beyond max_retry_after: "a" fails at once; "b" waits at most 60 s after the 429 at 0.5.
        (INF, None, 60.5),
        (1e999, None, 60.5),
        (86400.0, None, 60.5),
        (61.0, None, 60.5),
        # Honoured: "a" is retried when the pause ends, before "b" (which queued behind it).
        (10.0, 10.5, 11.25),
        # Unusable: "a" fails at once, nobody is paused.
        (NAN, None, 0.75),
        # Negative: nothing to wait for; "a" retries at once, ahead of "b".
        (-5.0, 0.75, 1.5),
    ],
)
async def test_one_429_never_stops_everyone_for_longer_than_max_retry_after(
    retry_after: float, a_retried_at: float | None, b_called_at: float
) -> None:
    upstream = Upstream(a=[RateLimited("429", retry_after=retry_after)])
    config = engine_config(retry=RetryConfig(max_retry_after=60))
    outcome: dict[str, object] = {}

    async def call(key: str) -> None:
        try:
            outcome[key] = await engine.upstream(key, upstream.fetch(key))
        except RateLimited as exc:
            outcome[key] = exc

    # A wedged limiter would sleep forever; in virtual time the deadline fails the test at once.
    with anyio.fail_after(3600):
        async with Engine(config, clock=VirtualClock(), seed=1) as engine:
            start = anyio.current_time()
            async with anyio.create_task_group() as tg:
                tg.start_soon(call, "a")
                await anyio.sleep(0.01)
                tg.start_soon(call, "b")
            stats = engine.stats()
    a_times = [round(t - start, 6) for t in upstream.times("a")]
    b_times = [round(t - start, 6) for t in upstream.times("b")]
    assert b_times == pytest.approx([b_called_at])
    assert outcome["b"] == "value of b"
    if a_retried_at is None:
        assert a_times == [0.0]
        assert isinstance(outcome["a"], RateLimited)  # the caller that got it fails at once
        assert stats.failures == 1
    else:
        assert a_times == pytest.approx([0.0, a_retried_at])
        assert outcome["a"] == "value of a"
    assert stats.rate_limited == 1


async def test_the_429d_request_is_the_first_grant_when_the_pause_ends() -> None:
    """The issue's example: a 429 at 0.5 s says "10 s"; fifteen requests queue meanwhile. The
    retry used to rejoin the back of the line (sent at 21.75 s); it goes first, at 10.5 s."""
    upstream = Upstream(a=[RateLimited("429", retry_after=10)])
    behind = [f"b{i:02d}" for i in range(15)]
    async with Engine(engine_config(), clock=VirtualClock(), seed=1) as engine:
        start = anyio.current_time()
        async with anyio.create_task_group() as tg:
            tg.start_soon(engine.upstream, "a", upstream.fetch("a"))
            for key in behind:
                await anyio.sleep(0.01)
                tg.start_soon(engine.upstream, key, upstream.fetch(key))
    calls = [(key, round(t - start, 6)) for key, t in upstream.calls]
    assert calls[0] == ("a", 0.0)
    after_pause = [(key, t) for key, t in calls if t >= 10.5]
    assert after_pause[0] == ("a", 10.5)
    # Then the others, in the order they queued, 0.75 s apart.
    assert after_pause[1:] == [
        (key, pytest.approx(11.25 + 0.75 * i)) for i, key in enumerate(behind)
    ]
    assert len(calls) == 17


async def test_several_429d_requests_go_first_in_the_order_they_were_refused() -> None:
    config = engine_config(
        rate=RateLimitConfig(rules=(WindowRule(limit=80, window=60),), min_interval=0.75)
    )
    upstream = Upstream(
        latency=2.0,
        a=[RateLimited("429", retry_after=5)],
        b=[RateLimited("429", retry_after=5)],
    )
    async with Engine(config, clock=VirtualClock(), seed=1) as engine:
        start = anyio.current_time()
        async with anyio.create_task_group() as tg:
            for key in ("a", "b", "c", "d", "e"):
                tg.start_soon(engine.upstream, key, upstream.fetch(key))
                await anyio.sleep(0.01)
    first_calls = {key: round(upstream.times(key)[-1] - start, 6) for key in "abcde"}
    # a at 0, b at 0.75; c queued at 0.02 is granted at 1.5, d at 2.25: both before a's 429 at
    # 2.0 paused everyone until 7.0 (d's grant at 2.25 had not come yet: it waits too).
    # b's 429 at 2.75 pauses until 7.75. Then a, b (429 order), then d, e (arrival order).
    assert first_calls["c"] == pytest.approx(1.5)
    assert first_calls["a"] == pytest.approx(7.75)
    assert first_calls["b"] == pytest.approx(8.5)
    assert first_calls["d"] == pytest.approx(9.25)
    assert first_calls["e"] == pytest.approx(10.0)


# --- the limiter's line: `first` goes before everyone who did not ask --------------------------


async def test_acquire_first_is_granted_before_earlier_waiters() -> None:
    limiter = RateLimiter(RATE, clock=VirtualClock())
    start = anyio.current_time()
    order: list[tuple[str, float]] = []

    async def take(name: str, first: bool = False) -> None:
        granted = await limiter.acquire(key=name, first=first)
        order.append((name, round(granted - start, 6)))

    await limiter.acquire()  # granted at 0: the next grant is at 0.75
    async with anyio.create_task_group() as tg:
        for name in ("w1", "w2", "w3"):
            tg.start_soon(take, name)
            await anyio.sleep(0.01)
        tg.start_soon(take, "retry1", True)  # after w1 became the head, sleeping towards 0.75
        await anyio.sleep(0.01)
        tg.start_soon(take, "retry2", True)
    assert order == [
        ("retry1", 0.75),
        ("retry2", 1.5),
        ("w1", 2.25),
        ("w2", 3.0),
        ("w3", 3.75),
    ]
    assert limiter.stats().queue == 0


async def test_a_cancelled_first_waiter_gives_its_place_back() -> None:
    limiter = RateLimiter(RATE, clock=VirtualClock())
    start = anyio.current_time()
    got: dict[str, float] = {}
    gone = anyio.CancelScope()

    async def take(name: str, first: bool = False, scope: anyio.CancelScope | None = None) -> None:
        with scope or anyio.CancelScope():
            got[name] = round(await limiter.acquire(first=first) - start, 6)

    await limiter.acquire()
    async with anyio.create_task_group() as tg:
        tg.start_soon(take, "w1")
        await anyio.sleep(0.01)
        tg.start_soon(take, "retry", True, gone)  # the head now, sleeping towards 0.75
        await anyio.sleep(0.01)
        tg.start_soon(take, "w2")
        await anyio.sleep(0.3)
        gone.cancel()
    assert got == {"w1": 0.75, "w2": 1.5}
    assert limiter.stats().queue == 0


# --- the Line: the shared limiter's local queue ------------------------------------------------


async def test_line_serves_first_callers_before_the_others_then_fifo() -> None:
    line = Line()
    served: list[str] = []

    async def turn(name: str, first: bool = False) -> None:
        await line.acquire(first=first)
        served.append(name)
        await anyio.sleep(1)
        line.release()

    async with anyio.create_task_group() as tg:
        for name, first in [("holder", False), ("n1", False), ("n2", False), ("f1", True)]:
            tg.start_soon(turn, name, first)
            await anyio.sleep(0.01)
        tg.start_soon(turn, "f2", True)
        await anyio.sleep(0.01)
        tg.start_soon(turn, "n3")
    assert served == ["holder", "f1", "f2", "n1", "n2", "n3"]
    assert not line.locked() and line.waiting == 0


async def test_line_survives_cancelled_waiters() -> None:
    line = Line()
    served: list[str] = []

    async def turn(name: str, first: bool = False, scope: anyio.CancelScope | None = None) -> None:
        with scope or anyio.CancelScope():
            await line.acquire(first=first)
            served.append(name)
            await anyio.sleep(1)
            line.release()

    gone_first, gone_plain = anyio.CancelScope(), anyio.CancelScope()
    async with anyio.create_task_group() as tg:
        tg.start_soon(turn, "holder")
        await anyio.sleep(0.01)
        tg.start_soon(turn, "n1", False, gone_plain)
        tg.start_soon(turn, "f1", True, gone_first)
        tg.start_soon(turn, "n2")
        await anyio.sleep(0.5)
        gone_first.cancel()
        gone_plain.cancel()
    assert served == ["holder", "n2"]
    assert not line.locked() and line.waiting == 0
    with anyio.CancelScope() as scope:
        scope.cancel()
        with pytest.raises(anyio.get_cancelled_exc_class()):
            await line.acquire()  # a checkpoint, like anyio.Lock
    assert not line.locked()


def test_max_pause_fits_the_shared_scripts_millisecond_arithmetic() -> None:
    # Lua numbers are doubles: epoch milliseconds plus the longest pause stay exact integers.
    assert (2_000_000_000 + MAX_PAUSE) * 1000 < 2**53
    assert math.isfinite(MAX_PAUSE)


# --- property: random arrivals, some asking to go first -----------------------------------------

arrivals_with_priority = st.lists(
    st.tuples(st.integers(0, 8_000), st.booleans()),  # arrival (ms), first
    min_size=1,
    max_size=30,
)
configs = st.sampled_from(
    [
        RATE,
        RateLimitConfig(rules=(WindowRule(limit=3, window=2.0),), min_interval=0.1),
        RateLimitConfig(
            rules=(WindowRule(limit=2, window=1.0), WindowRule(limit=4, window=5.0)), min_interval=0
        ),
    ]
)


def replay_with_priority(
    config: RateLimitConfig, plan: list[tuple[int, bool]], backend: str
) -> tuple[list[tuple[float, bool]], list[tuple[int, float]]]:
    arrivals = [(at_ms / 1000 + i * 1e-7, first) for i, (at_ms, first) in enumerate(sorted(plan))]

    async def main() -> list[tuple[int, float]]:
        limiter = RateLimiter(config, clock=VirtualClock())
        grants: list[tuple[int, float]] = []

        async def request(i: int, first: bool) -> None:
            grants.append((i, await limiter.acquire(first=first)))

        with anyio.fail_after(10_000):
            async with anyio.create_task_group() as tg:
                for i, (at, first) in enumerate(arrivals):
                    await anyio.sleep_until(at)
                    tg.start_soon(request, i, first)
        assert limiter.stats().queue == 0
        return grants

    return arrivals, run_virtual(main, backend=backend)  # type: ignore[arg-type]


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(config=configs, plan=arrivals_with_priority)
def test_property_first_waiters_go_first_and_the_rules_still_hold(
    backend: str, config: RateLimitConfig, plan: list[tuple[int, bool]]
) -> None:
    arrivals, grants = replay_with_priority(config, plan, backend)
    assert sorted(i for i, _ in grants) == list(range(len(arrivals)))  # everyone is served
    times = [t for _, t in grants]
    assert violations(times, config) == []
    order = [i for i, _ in grants]
    # Within each class, first come, first served.
    for first in (True, False):
        same = [i for i in order if arrivals[i][1] is first]
        assert same == sorted(same)
    # Nobody who did not ask is granted while one who asked to go first is waiting.
    for k, (i, t) in enumerate(grants):
        if not arrivals[i][1]:
            for j, _ in grants[k + 1 :]:
                assert not (arrivals[j][1] and arrivals[j][0] < t), (i, j)
    # Work-conserving: each grant at the earliest instant its arrival and the rules allow.
    for k, (i, t) in enumerate(grants):
        earliest = arrivals[i][0]
        if k:
            earliest = max(earliest, times[k - 1] + config.min_interval)
        for rule in config.rules:
            if k >= rule.limit:
                earliest = max(earliest, times[k - rule.limit] + rule.window)
        assert t == pytest.approx(earliest, abs=1e-6), (k, i)
