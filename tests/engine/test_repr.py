"""The reprs show live state (as httpcore's pool does): counts move while callers wait."""

from __future__ import annotations

import anyio
import pytest

from engine import Engine
from engine.batchflight import BatchFlight
from engine.clock import VirtualClock
from engine.limits import (
    ConcurrencyConfig,
    ConcurrencyLimiter,
    RateLimitConfig,
    RateLimiter,
    UpstreamGate,
    WindowRule,
)
from engine.limits.line import Line
from engine.limits.rate import turnstile
from engine.singleflight import SingleFlight
from tests.engine_configs import engine_config

pytestmark = pytest.mark.anyio

# Explicit values everywhere: the configurations may have no defaults.
TUNED = RateLimitConfig(rules=(WindowRule(limit=80, window=60.0),), min_interval=0.75)


async def test_rate_limiter_repr_follows_the_queue_and_the_window() -> None:
    limiter = RateLimiter(
        RateLimitConfig(rules=(WindowRule(limit=3, window=10.0),), min_interval=1.0),
        clock=VirtualClock(),
    )
    assert repr(limiter) == (
        "<RateLimiter [rules: 3 per 10 s, 1 s apart | in window: 0/3 in 10 s | queued: 0 | "
        "next grant: now | granted: 0, timeouts: 0]>"
    )
    async with anyio.create_task_group() as tg:
        for _ in range(5):
            tg.start_soon(limiter.acquire)
        await anyio.sleep(0.25)
        # One grant at once, four callers in line, the next grant 1 s after the first.
        assert "in window: 1/3 in 10 s | queued: 4 | next grant in 0.750 s" in repr(limiter)
        assert "granted: 1," in repr(limiter)
        await anyio.sleep(2)
        # Grants at 0, 1 and 2 fill the window: the next comes at 10.
        assert "in window: 3/3 in 10 s | queued: 2 | next grant in 7.750 s" in repr(limiter)
    # At 11: grants at 10 and 11, the window (1, 11] still holds 2 and 10 and 11.
    assert "in window: 3/3 in 10 s | queued: 0 | next grant in 1.000 s" in repr(limiter)
    assert "granted: 5, timeouts: 0" in repr(limiter)


async def test_rate_limiter_repr_shows_a_pause_and_timeouts() -> None:
    limiter = RateLimiter(TUNED, clock=VirtualClock())
    limiter.pause(30)
    assert "queued: 0 | next grant in 30.000 s" in repr(limiter)
    with pytest.raises(TimeoutError):
        await limiter.acquire(deadline=anyio.current_time() + 1)
    assert "timeouts: 1" in repr(limiter)


async def test_turnstile_repr_has_no_rules() -> None:
    turns = turnstile(1e-6, VirtualClock())
    assert turns is not None
    assert repr(turns).startswith("<RateLimiter [rules: none, 0 s apart, settle 1e-06 s | ")
    assert "in window" not in repr(turns)


async def test_concurrency_limiter_repr_counts_in_flight_and_queued() -> None:
    limiter = ConcurrencyLimiter(ConcurrencyConfig(limit=2))
    release = anyio.Event()

    async def request() -> None:
        async with limiter.slot():
            await release.wait()

    assert repr(limiter) == (
        "<ConcurrencyLimiter [limit: 2 | in flight: 0 | queued: 0 | peak: 0, acquired: 0]>"
    )
    async with anyio.create_task_group() as tg:
        for _ in range(5):
            tg.start_soon(request)
        await anyio.sleep(1)
        assert repr(limiter) == (
            "<ConcurrencyLimiter [limit: 2 | in flight: 2 | queued: 3 | peak: 2, acquired: 2]>"
        )
        release.set()
    assert repr(limiter) == (
        "<ConcurrencyLimiter [limit: 2 | in flight: 0 | queued: 0 | peak: 2, acquired: 5]>"
    )


async def test_gate_repr_shows_both_limits() -> None:
    rate = RateLimiter(TUNED, clock=VirtualClock())
    concurrency = ConcurrencyLimiter(ConcurrencyConfig(limit=6))
    gate = UpstreamGate(rate, concurrency)
    async with gate.request():
        text = repr(gate)
        assert text.startswith("<UpstreamGate [<RateLimiter [rules: 80 per 60 s, 0.75 s apart")
        assert "in window: 1/80 in 60 s" in text
        assert "<ConcurrencyLimiter [limit: 6 | in flight: 1 | queued: 0" in text


async def test_line_repr_shows_holder_and_waiters() -> None:
    line = Line()
    assert repr(line) == "<Line [free | waiting: 0 (0 first)]>"
    await line.acquire()
    async with anyio.create_task_group() as tg:

        async def take(first: bool) -> None:
            await line.acquire(first=first)
            line.release()

        tg.start_soon(take, False)
        tg.start_soon(take, True)
        tg.start_soon(take, False)
        await anyio.sleep(1)
        assert repr(line) == "<Line [held | waiting: 3 (1 first)]>"
        line.release()
    assert repr(line) == "<Line [free | waiting: 0 (0 first)]>"


async def test_batchflight_repr_shows_keys_in_flight() -> None:
    release = anyio.Event()

    async def fetch_many(keys: list[str]) -> dict[str, str]:
        await release.wait()
        return {key: key.upper() for key in keys}

    async with SingleFlight() as flights:
        batch = BatchFlight[str, str](
            "ids", fetch_many, flights=flights, max_batch=2, concurrency=3
        )
        idle = (
            "<BatchFlight 'ids' [keys in flight: 0 in 0 chunks | joined: {} | "
            "chunks of 2, 3 at once]>"
        )
        assert repr(batch) == idle.format(0)
        async with anyio.create_task_group() as tg:
            tg.start_soon(batch.get_many, ["a", "b", "c"])
            await anyio.sleep(1)
            assert "[keys in flight: 3 in 2 chunks | joined: 0 |" in repr(batch)
            tg.start_soon(batch.get_many, ["b", "d"])
            await anyio.sleep(1)
            assert "[keys in flight: 4 in 3 chunks | joined: 1 |" in repr(batch)
            release.set()
        assert repr(batch) == idle.format(1)


async def test_engine_repr_summarises_limits_cache_and_flights() -> None:
    engine = Engine(
        engine_config(rate=TUNED, concurrency=ConcurrencyConfig(limit=1)),
        clock=VirtualClock(),
        seed=1,
    )
    text = repr(engine)
    assert text.startswith("<Engine [not entered | <RateLimiter [rules: 80 per 60 s")
    assert "<SingleFlight [closed | in flight: 0 |" in text
    assert text.endswith("| attempts: 0, 429s: 0, retries: 0, failures: 0]>")

    release = anyio.Event()

    async def fetch() -> str:
        await release.wait()
        return "value"

    async with engine, anyio.create_task_group() as tg:
        for key in ("a", "b", "c"):
            tg.start_soon(engine.deduplicated, key, fetch)
        await anyio.sleep(2)
        text = repr(engine)
        assert "not entered" not in text
        # Grants at 0 and 0.75 (and 1.5): one request holds the only slot, the others wait
        # for it after their grant.
        assert "in window: 3/80 in 60 s | queued: 0" in text
        assert "<ConcurrencyLimiter [limit: 1 | in flight: 1 | queued: 2 |" in text
        assert "<Cache [" in text
        assert "<SingleFlight [open | in flight: 3 |" in text
        assert "attempts: 1," in text
        release.set()
    text = repr(engine)
    assert (
        "<ConcurrencyLimiter [limit: 1 | in flight: 0 | queued: 0 | peak: 1, acquired: 3]>" in text
    )
    assert "<SingleFlight [closed | in flight: 0 |" in text
    assert text.endswith("| attempts: 3, 429s: 0, retries: 0, failures: 0]>")


def test_reprs_need_no_running_event_loop() -> None:
    limiter = RateLimiter(TUNED, clock=VirtualClock())
    assert repr(limiter) == (
        "<RateLimiter [rules: 80 per 60 s, 0.75 s apart | queued: 0 | granted: 0, timeouts: 0]>"
    )
    engine = Engine(
        engine_config(rate=TUNED, concurrency=ConcurrencyConfig(limit=6)),
        clock=VirtualClock(),
        seed=1,
    )
    assert repr(engine).startswith("<Engine [not entered | <RateLimiter [")
