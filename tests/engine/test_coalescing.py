"""Micro-batching: the sans-I/O planner's guarantees (property tests) and the anyio shell in
virtual time on both backends."""

from __future__ import annotations

import math
import random
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import anyio
import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine import Engine, RateLimitConfig, Retryable, RetryConfig
from engine.clock import VirtualClock
from engine.coalescing import BatchPlanner, Coalescer, CoalescerClosed
from engine.limits import ConcurrencyConfig, WindowRule
from tests.engine_configs import engine_config

pytestmark = pytest.mark.anyio

# -- the planner ----------------------------------------------------------------------------

ops = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.lists(st.integers(0, 60), max_size=50), st.booleans()),
        st.tuples(st.just("grant"), st.integers(1, 3), st.booleans()),
        st.tuples(st.just("finish"), st.integers(0, 5), st.booleans()),
    ),
    max_size=60,
)


@given(max_batch=st.integers(1, 40), script=ops)
def test_the_planner_loses_nothing_sends_nothing_twice_and_never_overfills(
    max_batch: int, script: list[tuple[str, Any, bool]]
) -> None:
    planner = BatchPlanner[str](max_batch)
    now = 0.0
    queued: set[str] = set()
    in_flight: list[list[str]] = []
    for op, arg, later in script:
        now += 1.0 if later else 0.0
        if op == "add":
            for n in arg:
                key = f"k{n}"
                busy = key in queued or any(key in batch for batch in in_flight)
                assert planner.add(key, now) is (not busy)
                if not busy:
                    queued.add(key)
            for _ in range(planner.wanted()):
                planner.open()
        elif op == "grant":
            for _ in range(min(arg, planner.open_requests)):
                batch = planner.take()
                assert 1 <= len(batch) <= max_batch  # never empty, never over
                assert len(set(batch)) == len(batch)
                assert set(batch) <= queued
                queued -= set(batch)
                in_flight.append(batch)
        elif in_flight:
            batch = in_flight.pop(arg % len(in_flight))
            planner.finish(batch)
        # Exactly enough open requests for what is queued: none idle, no key stranded.
        assert planner.open_requests == math.ceil(len(queued) / max_batch)
        assert planner.queued == len(queued)
    while planner.open_requests:
        queued -= set(planner.take())
    assert not queued  # every key added was taken


@given(
    keys=st.lists(st.integers(0, 200), min_size=1, max_size=150, unique=True),
    max_batch=st.integers(1, 40),
    shuffle=st.randoms(use_true_random=False),
)
def test_simultaneous_adds_make_the_same_batches_in_any_order(
    keys: list[int], max_batch: int, shuffle: random.Random
) -> None:
    def batches(order: list[int]) -> list[list[str]]:
        planner = BatchPlanner[str](max_batch)
        for n in order:
            planner.add(f"k{n:03d}", 5.0)
        for _ in range(planner.wanted()):
            planner.open()
        return [planner.take() for _ in range(planner.open_requests)]

    mixed = list(keys)
    shuffle.shuffle(mixed)
    assert batches(keys) == batches(mixed)
    assert batches(keys)[0] == sorted(f"k{n:03d}" for n in keys)[:max_batch]


def test_earlier_keys_go_first() -> None:
    planner = BatchPlanner[str](2)
    planner.add("z", 1.0)
    planner.add("b", 2.0)
    planner.add("a", 2.0)
    planner.open()
    planner.open()
    assert planner.take() == ["z", "a"]
    assert planner.take() == ["b"]
    with pytest.raises(RuntimeError):
        planner.take()
    with pytest.raises(ValueError):
        BatchPlanner[str](0)


# -- the shell --------------------------------------------------------------------------------


class Upstream:
    """Answers every key but ``missing`` with ``key.upper()``; records each request's instant
    and keys; fails the next ``fail`` requests with a non-retried error."""

    def __init__(self, latency: float = 0.1, missing: frozenset[str] = frozenset()) -> None:
        self.latency = latency
        self.missing = missing
        self.requests: list[tuple[float, list[str]]] = []
        self.fail = 0

    async def __call__(self, keys: list[str]) -> Mapping[str, str]:
        self.requests.append((anyio.current_time(), list(keys)))
        await anyio.sleep(self.latency)
        if self.fail:
            self.fail -= 1
            raise LookupError("upstream said no")
        return {k: k.upper() for k in keys if k not in self.missing}


def spaced(interval: float) -> Any:
    return engine_config(
        rate=RateLimitConfig(rules=(WindowRule(limit=1000, window=60),), min_interval=interval),
        concurrency=ConcurrencyConfig(limit=6),
        retry=RetryConfig(attempts=1),
    )


def coalescer(
    engine: Engine,
    upstream: Callable[[list[str]], Awaitable[Mapping[str, str]]],
    *,
    max_batch: int = 40,
    linger: float = 0.005,
    answered: Any = None,
) -> Coalescer[str, str]:
    return Coalescer(
        "things",
        upstream,
        through=engine.upstream,
        max_batch=max_batch,
        linger=linger,
        answered=answered,
    )


async def test_simultaneous_callers_share_one_request() -> None:
    upstream = Upstream(missing=frozenset({"b2"}))
    results: dict[str, dict[str, str]] = {}
    async with (
        Engine(spaced(0.75), clock=VirtualClock()) as engine,
        coalescer(engine, upstream) as batches,
        anyio.create_task_group() as tg,
    ):

        async def caller(name: str, keys: list[str]) -> None:
            results[name] = await batches.get_many(keys)

        tg.start_soon(caller, "a", ["a1", "a2", "shared"])
        tg.start_soon(caller, "b", ["b1", "b2", "shared"])
        tg.start_soon(caller, "c", ["c1", "shared", "c1"])
    assert len(upstream.requests) == 1
    _, keys = upstream.requests[0]
    assert sorted(keys) == ["a1", "a2", "b1", "b2", "c1", "shared"]  # "shared" sent once
    assert results["a"] == {"a1": "A1", "a2": "A2", "shared": "SHARED"}
    assert results["b"] == {"b1": "B1", "shared": "SHARED"}  # b2: absent, not an error
    assert results["c"] == {"c1": "C1", "shared": "SHARED"}
    assert batches.joined == 2 and batches.requests == 1 and batches.keys_sent == 6


async def test_a_request_never_carries_more_than_the_maximum() -> None:
    upstream = Upstream()
    async with (
        Engine(spaced(0.75), clock=VirtualClock()) as engine,
        coalescer(engine, upstream, max_batch=40) as batches,
    ):
        found = await batches.get_many(f"k{n:03d}" for n in range(100))
    assert len(found) == 100
    assert [len(keys) for _, keys in upstream.requests] == [40, 40, 20]
    assert sorted(k for _, keys in upstream.requests for k in keys) == sorted(found)


async def test_a_request_waiting_for_its_grant_keeps_absorbing_keys() -> None:
    """One request a second: keys that arrive while a request waits in the limiter's line
    travel with it, and the request is sent at its grant, not later."""
    upstream = Upstream(latency=0.05)
    async with Engine(spaced(1.0), clock=VirtualClock()) as engine:
        start = anyio.current_time()
        async with coalescer(engine, upstream) as batches, anyio.create_task_group() as tg:
            for n in range(7):  # t = 0, 0.3, 0.6, ..., 1.8

                async def caller(key: str = f"k{n}") -> None:
                    await batches.get_many([key])

                tg.start_soon(caller)
                await anyio.sleep(0.3)
    sent = [(round(at - start, 3), keys) for at, keys in upstream.requests]
    # k0 lingers 5 ms, then is granted at once; k1 (0.3) opens a request that waits for the
    # grant at 1.005 and picks up k2 and k3 on the way; k4 (1.2) waits for the grant at 2.005.
    assert sent == [
        (0.005, ["k0"]),
        (1.005, ["k1", "k2", "k3"]),
        (2.005, ["k4", "k5", "k6"]),
    ]


async def test_an_idle_limiter_lingers_only_until_the_batch_is_full() -> None:
    upstream = Upstream()
    async with Engine(spaced(0.0), clock=VirtualClock()) as engine:
        start = anyio.current_time()
        async with coalescer(engine, upstream, max_batch=3, linger=10.0) as batches:
            await batches.get_many(["a", "b", "c"])  # full at once: no lingering
            await batches.get_many(["d"])  # lingers the whole 10 s
    assert [(round(at - start, 3), keys) for at, keys in upstream.requests] == [
        (0.0, ["a", "b", "c"]),
        (10.1, ["d"]),
    ]


async def test_an_error_reaches_every_caller_of_the_batch_and_is_not_remembered() -> None:
    upstream = Upstream()
    upstream.fail = 1
    errors: list[BaseException] = []
    async with (
        Engine(spaced(0.0), clock=VirtualClock()) as engine,
        coalescer(engine, upstream) as batches,
    ):

        async def caller(keys: list[str]) -> None:
            try:
                await batches.get_many(keys)
            except LookupError as exc:
                errors.append(exc)

        async with anyio.create_task_group() as tg:
            tg.start_soon(caller, ["a", "b"])
            tg.start_soon(caller, ["b", "c"])
        assert len(errors) == 2 and errors[0] is errors[1]
        assert await batches.get_many(["a", "b"]) == {"a": "A", "b": "B"}  # asked again
    assert [keys for _, keys in upstream.requests] == [["a", "b", "c"], ["a", "b"]]


async def test_retries_resend_the_same_keys() -> None:
    class Flaky(Upstream):
        async def __call__(self, keys: list[str]) -> Mapping[str, str]:
            if not self.requests:
                self.requests.append((anyio.current_time(), list(keys)))
                raise Retryable("503")
            return await super().__call__(keys)

    upstream = Flaky()
    config = engine_config(rate=spaced(0.0).rate, retry=RetryConfig(attempts=3, jitter=0))
    async with (
        Engine(config, clock=VirtualClock()) as engine,
        coalescer(engine, upstream) as batches,
        anyio.create_task_group() as tg,
    ):
        tg.start_soon(batches.get_many, ["a"])
        await anyio.sleep(0.2)  # during the backoff: a new key goes in a new request
        tg.start_soon(batches.get_many, ["b"])
    assert [keys for _, keys in upstream.requests] == [["a"], ["b"], ["a"]]
    assert batches.requests == 2


async def test_a_cancelled_caller_does_not_cancel_the_request_for_others() -> None:
    upstream = Upstream(latency=1.0)
    got: dict[str, str] = {}
    async with (
        Engine(spaced(0.0), clock=VirtualClock()) as engine,
        coalescer(engine, upstream) as batches,
    ):
        async with anyio.create_task_group() as tg:

            async def patient() -> None:
                got.update(await batches.get_many(["a", "b"]))

            tg.start_soon(patient)
            with anyio.move_on_after(0.5):  # leaves while the request is in flight
                await batches.get_many(["a", "c"])
        assert got == {"a": "A", "b": "B"}
        # "c" was fetched all the same (it was on its way); nothing is left behind.
        assert batches.planner.queued == 0 and batches.planner.in_flight == 0
    assert len(upstream.requests) == 1


async def test_closing_fails_waiting_callers_and_leaves_nothing_running() -> None:
    upstream = Upstream(latency=100.0)
    outcome: list[BaseException] = []
    async with Engine(spaced(0.0), clock=VirtualClock()) as engine:
        async with anyio.create_task_group() as tg, coalescer(engine, upstream) as batches:

            async def caller() -> None:
                try:
                    await batches.get_many(["a"])
                except CoalescerClosed as exc:
                    outcome.append(exc)

            tg.start_soon(caller)
            await anyio.sleep(1)
        assert len(outcome) == 1
        with pytest.raises(CoalescerClosed, match="not open"):
            await batches.get_many(["a"])
        assert engine.stats().concurrency.in_use == 0


async def test_answered_runs_before_callers_are_told() -> None:
    upstream = Upstream()
    stored: dict[str, str] = {}

    async def answered(keys: list[str], answer: Mapping[str, str]) -> None:
        await anyio.sleep(0.5)
        stored.update(answer)

    async with (
        Engine(spaced(0.0), clock=VirtualClock()) as engine,
        coalescer(engine, upstream, answered=answered) as batches,
    ):
        assert await batches.get_many(["x"]) == {"x": "X"}
        assert stored == {"x": "X"}
        assert "queued: 0" in repr(batches) and "sent: 1 requests, 1 keys" in repr(batches)
