from __future__ import annotations

import contextlib

import anyio
import anyio.lowlevel
import pytest

from engine.singleflight import CacheFlightKey, SingleFlight, SingleFlightClosed

pytestmark = pytest.mark.anyio


class Upstream:
    """Counts calls; each call takes `delay` seconds of (virtual) time."""

    def __init__(self, delay: float = 1.0, error: Exception | None = None) -> None:
        self.delay = delay
        self.error = error
        self.calls = 0
        self.completed = 0

    async def __call__(self) -> str:
        self.calls += 1
        await anyio.sleep(self.delay)
        if self.error is not None:
            raise self.error
        self.completed += 1
        return f"result-{self.calls}"


async def test_concurrent_identical_calls_share_one_execution() -> None:
    upstream = Upstream()
    results: list[str] = []
    async with SingleFlight() as flights:

        async def call() -> None:
            results.append(await flights.do("k", upstream))

        async with anyio.create_task_group() as tg:
            for _ in range(20):
                tg.start_soon(call)
        stats = flights.stats()
        assert flights.in_flight() == 0
    assert upstream.calls == 1
    assert results == ["result-1"] * 20
    assert (stats.calls, stats.executions, stats.shared) == (20, 1, 19)


async def test_sequential_calls_do_not_share() -> None:
    upstream = Upstream()
    async with SingleFlight() as flights:
        assert await flights.do("k", upstream) == "result-1"
        assert await flights.do("k", upstream) == "result-2"
    assert upstream.calls == 2


async def test_failure_reaches_every_waiter_with_one_upstream_call() -> None:
    upstream = Upstream(error=ValueError("upstream broke"))
    errors: list[BaseException] = []
    async with SingleFlight() as flights:

        async def call() -> None:
            try:
                await flights.do("k", upstream)
            except ValueError as exc:
                errors.append(exc)

        async with anyio.create_task_group() as tg:
            for _ in range(10):
                tg.start_soon(call)
        assert flights.in_flight() == 0
        # The error is not remembered: the next call runs again.
        with pytest.raises(ValueError):
            await flights.do("k", upstream)
    assert upstream.calls == 2
    assert len(errors) == 10
    assert all(str(e) == "upstream broke" for e in errors)


async def test_waiting_on_one_key_never_delays_another() -> None:
    slow, fast = Upstream(delay=100), Upstream(delay=1)
    async with SingleFlight() as flights, anyio.create_task_group() as tg:
        tg.start_soon(flights.do, "slow", slow)
        tg.start_soon(flights.do, "slow", slow)
        await anyio.sleep(0.5)
        started = anyio.current_time()
        assert await flights.do("fast", fast) == "result-1"
        assert anyio.current_time() - started == pytest.approx(1)
        tg.cancel_scope.cancel()


async def test_cancelled_first_caller_does_not_cancel_the_shared_execution() -> None:
    upstream = Upstream(delay=10)
    async with SingleFlight() as flights:
        leader_scope = anyio.CancelScope()
        follower_result: list[str] = []

        async def leader() -> None:
            with leader_scope:
                await flights.do("k", upstream)

        async def follower() -> None:
            follower_result.append(await flights.do("k", upstream))

        async with anyio.create_task_group() as tg:
            tg.start_soon(leader)
            await anyio.sleep(1)
            tg.start_soon(follower)
            await anyio.sleep(1)
            leader_scope.cancel()
        assert leader_scope.cancelled_caught
        assert follower_result == ["result-1"]
        assert upstream.completed == 1
        assert flights.in_flight() == 0


async def test_execution_is_cancelled_when_every_waiter_has_gone() -> None:
    upstream = Upstream(delay=10)
    async with SingleFlight() as flights:
        with anyio.move_on_after(1):
            async with anyio.create_task_group() as tg:
                for _ in range(3):
                    tg.start_soon(flights.do, "k", upstream)
        await anyio.lowlevel.checkpoint()  # let the abandoned execution see its cancellation
        assert flights.in_flight() == 0
        await anyio.sleep(20)
        assert upstream.calls == 1
        assert upstream.completed == 0  # it was cancelled, not left running
        assert flights.stats().abandoned == 1
        # The key is free again: a new call starts a new execution and succeeds.
        assert await flights.do("k", upstream) == "result-2"


async def test_caller_cancelled_at_once_leaves_nothing_running() -> None:
    upstream = Upstream()
    async with SingleFlight() as flights:
        with anyio.CancelScope() as scope:
            scope.cancel()
            await flights.do("k", upstream)
        await anyio.sleep(5)
        assert upstream.completed == 0
        assert flights.in_flight() == 0


async def test_closing_fails_pending_waiters_and_leaves_no_task() -> None:
    upstream = Upstream(delay=100)
    errors: list[BaseException] = []

    async def call(flights: SingleFlight) -> None:
        try:
            await flights.do("k", upstream)
        except SingleFlightClosed as exc:
            errors.append(exc)

    async with anyio.create_task_group() as outer, SingleFlight() as flights:
        outer.start_soon(call, flights)
        outer.start_soon(call, flights)
        await anyio.sleep(1)
        # Leaving the block cancelled the execution; no task of the SingleFlight survives it.
    assert len(errors) == 2
    assert upstream.completed == 0
    with pytest.raises(SingleFlightClosed):
        await flights.do("k", upstream)


async def test_no_entry_leaks_after_mixed_errors_and_cancellations() -> None:
    async with SingleFlight() as flights:

        async def flaky(i: int) -> int:
            await anyio.sleep(1 + i % 3)
            if i % 2:
                raise RuntimeError(i)
            return i

        async def call(i: int) -> None:
            with anyio.move_on_after(i % 4):  # some callers give up early
                with contextlib.suppress(RuntimeError):
                    await flights.do(i % 7, lambda: flaky(i))

        async with anyio.create_task_group() as tg:
            for i in range(200):
                tg.start_soon(call, i)
        await anyio.sleep(10)
        assert flights.in_flight() == 0
        stats = flights.stats()
        assert stats.calls == 200
        assert stats.executions + stats.shared == 200


async def test_repr_shows_the_flights_in_progress() -> None:
    flights = SingleFlight()
    assert repr(flights) == (
        "<SingleFlight [closed | in flight: 0 | calls: 0, executions: 0, abandoned: 0]>"
    )
    async with flights, anyio.create_task_group() as tg:
        for key in ("a", "a", "b"):
            tg.start_soon(flights.do, key, Upstream())
        await anyio.sleep(0.5)
        assert repr(flights) == (
            "<SingleFlight [open | in flight: 2 | calls: 3, executions: 2, abandoned: 0]>"
        )
    assert repr(flights) == (
        "<SingleFlight [closed | in flight: 0 | calls: 3, executions: 2, abandoned: 0]>"
    )


async def test_a_cache_flight_key_is_one_more_key_and_a_local_flight_shares_no_claims() -> None:
    upstream = Upstream()
    async with SingleFlight() as flights, anyio.create_task_group() as tg:
        tg.start_soon(flights.do, CacheFlightKey("v1:ids:a"), upstream)
        tg.start_soon(flights.do, CacheFlightKey("v1:ids:a"), upstream)
        tg.start_soon(flights.do, ("cache", "v1:ids:a"), upstream)  # a different key
    assert upstream.calls == 2
    assert flights.key_claims("tracks") is None
