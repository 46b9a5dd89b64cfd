"""SingleFlight's executions run on reusable worker tasks: each in the context of the call that
started it, in its own cancel scope, at the place a task spawned for it would have run, with
errors, abandonment, closing and stats as with a task per execution."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Hashable
from contextvars import ContextVar
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from engine.singleflight import REFRESHING, SingleFlight, SingleFlightClosed

pytestmark = pytest.mark.anyio

VAR: ContextVar[str] = ContextVar("test_singleflight_workers", default="unset")


def task_id() -> int:
    return anyio.get_current_task().id


async def warm_up(flights: SingleFlight, workers: int) -> set[int]:
    """Run ``workers`` executions at once, so that as many workers are idle afterwards."""
    ids: set[int] = set()

    async def fn() -> None:
        ids.add(task_id())
        await anyio.sleep(1)

    async with anyio.create_task_group() as tg:
        for n in range(workers):
            tg.start_soon(flights.do, ("warm-up", n), fn)
    assert len(ids) == workers and len(flights._workers._idle) == workers
    return ids


async def test_a_reused_worker_runs_each_execution_in_its_callers_context() -> None:
    seen: list[tuple[str, float | None, int]] = []
    spawned: list[str] = []

    async def fn(label: str) -> str:
        seen.append((VAR.get(), REFRESHING.get(), task_id()))
        # Set and reset across a wait: both in the same context, or reset raises.
        token = VAR.set(f"changed by {label}")
        await anyio.sleep(1)
        async with anyio.create_task_group() as tg:  # a task it spawns copies its context

            async def child() -> None:
                spawned.append(VAR.get())

            tg.start_soon(child)
        VAR.reset(token)
        VAR.set(f"left by {label}")  # stays in the execution's copy
        return label

    async def call(label: str, value: str, refreshing: float | None) -> str:
        VAR.set(value)
        REFRESHING.set(refreshing)
        result = await flights.do(label, lambda: fn(label))
        assert (VAR.get(), REFRESHING.get()) == (value, refreshing)  # untouched by fn
        return result

    async with SingleFlight() as flights:
        first = await warm_up(flights, 1)
        async with anyio.create_task_group() as tg:
            tg.start_soon(call, "one", "first caller", 12.5)
        async with anyio.create_task_group() as tg:
            tg.start_soon(call, "two", "second caller", None)
        assert await call("three", "third caller", 3.0) == "three"
    assert seen == [
        ("first caller", 12.5, *first),
        ("second caller", None, *first),
        ("third caller", 3.0, *first),
    ]
    assert spawned == ["changed by one", "changed by two", "changed by three"]


async def test_an_abandoned_execution_ends_and_its_worker_runs_the_next() -> None:
    events: list[str] = []

    async def slow() -> str:
        try:
            await anyio.sleep(100)
        except anyio.get_cancelled_exc_class():
            events.append(f"slow cancelled at {anyio.current_time() - start:g}")
            raise
        return "never"

    async def quick() -> str:
        await anyio.sleep(1)
        return f"quick on {task_id()}"

    async with SingleFlight() as flights:
        (worker,) = await warm_up(flights, 1)
        start = anyio.current_time()
        with anyio.move_on_after(5):
            async with anyio.create_task_group() as tg:
                tg.start_soon(flights.do, "slow", slow)
                tg.start_soon(flights.do, "slow", slow)
        await anyio.lowlevel.checkpoint()  # let the abandoned execution see its cancellation
        assert events == ["slow cancelled at 5"]
        assert flights.in_flight() == 0 and len(flights._workers._idle) == 1
        assert await flights.do("quick", quick) == f"quick on {worker}"
        stats = flights.stats()
    assert (stats.calls, stats.executions, stats.shared) == (4, 3, 1)
    assert (stats.abandoned, stats.in_flight) == (1, 0)


async def test_an_error_reaches_every_waiter_and_the_worker_survives() -> None:
    boom = ValueError("upstream broke")
    errors: list[BaseException] = []

    async def failing() -> str:
        await anyio.sleep(1)
        raise boom

    async def call() -> None:
        try:
            await flights.do("k", failing)
        except ValueError as exc:
            errors.append(exc)

    async with SingleFlight() as flights:
        (worker,) = await warm_up(flights, 1)
        async with anyio.create_task_group() as tg:
            for _ in range(3):
                tg.start_soon(call)
        assert errors == [boom] * 3 and all(e is boom for e in errors)

        async def fine() -> int:
            return task_id()

        assert await flights.do("k", fine) == worker
        stats = flights.stats()
    assert (stats.calls, stats.executions, stats.shared, stats.abandoned) == (5, 3, 2, 0)


async def test_closing_fails_the_waiters_of_reused_workers_and_ends_every_worker() -> None:
    upstream_started: list[int] = []
    errors: list[BaseException] = []

    async def endless() -> None:
        upstream_started.append(task_id())
        await anyio.sleep(1000)

    async def call(key: Hashable) -> None:
        try:
            await flights.do(key, endless)
        except SingleFlightClosed as exc:
            errors.append(exc)

    with anyio.fail_after(100):
        async with anyio.create_task_group() as outer:
            async with SingleFlight() as flights:
                workers = await warm_up(flights, 3)
                outer.start_soon(call, "a")
                outer.start_soon(call, "a")
                outer.start_soon(call, "b")
                await anyio.sleep(1)
                assert len(flights._workers._idle) == 1  # one worker idle, two running "a" and "b"
            # Leaving the block cancelled both executions and ended the idle worker.
            assert flights._workers._idle == [] and flights.in_flight() == 0
    assert len(errors) == 3 and all(isinstance(e, SingleFlightClosed) for e in errors)
    assert set(upstream_started) < workers
    with pytest.raises(SingleFlightClosed):
        await flights.do("a", endless)


async def test_an_idle_worker_keeps_nothing_of_what_it_ran() -> None:
    class Result:
        pass

    async def fn() -> Result:
        await anyio.sleep(1)
        return Result()

    async with SingleFlight() as flights:
        first = weakref.ref(await flights.do("spawned", fn))  # a new worker's first
        again = weakref.ref(await flights.do("handed", fn))  # the idle worker's next
        gc.collect()
        assert first() is None and again() is None
        assert len(flights._workers._idle) == 1 and flights.stats().executions == 2


class _TaskEach:
    """In place of the worker pool: a task per execution, spawned in the call's context, as
    before the workers."""

    def __init__(self, start_soon: Any) -> None:
        self._spawn = start_soon

    def start(self, fn: Any, *args: Any, context: Any) -> None:
        context.run(self._spawn, fn, *args)


class SpawningFlight(SingleFlight):
    """A task per execution, as before the workers: the order to compare with."""

    def __init__(self) -> None:
        super().__init__()
        self._workers = _TaskEach(self._tasks.start_soon)  # type: ignore[assignment]


class CountingFlight(SingleFlight):
    """Counts the workers it spawns (task IDs are addresses: a finished task's is reused)."""

    def __init__(self) -> None:
        super().__init__()
        self.spawned = 0
        spawn = self._workers._spawn

        def counting(*args: Any) -> None:
            self.spawned += 1
            spawn(*args)

        self._workers._spawn = counting


# (instant, key, steps): a call at its instant, its execution's steps each a checkpoint (0) or
# a sleep. Some executions overlap, others find the earlier ones finished (a reused worker).
CALLS: list[tuple[float, str, list[float]]] = [
    (0.0, "a", [0, 0.5, 0]),
    (0.0, "b", [0]),
    (0.0, "c", [1.0]),
    (1.0, "d", [0, 0]),
    (1.0, "e", [2.0, 0]),
    (1.0, "d", [0, 0]),
    (2.5, "f", [0]),
    (2.5, "g", []),
    (2.5, "h", [0.5]),
    (3.0, "i", [0, 0, 0]),
    (10.0, "k", [1.0]),
    (10.0, "l", []),
]


class _Turns:
    """On trio, the batch of runnable tasks a step ran in (an instrument counts the I/O waits
    between batches; trio shuffles each batch, so only the batch is comparable); on asyncio,
    whose ready queue is FIFO, the order of the records is exact and the turn stays 0."""

    def __init__(self) -> None:
        self.turn = 0

    def after_io_wait(self, timeout: float) -> None:
        self.turn += 1


async def _record(backend: str, flights: SingleFlight) -> list[tuple[int, str]]:
    turns = _Turns()
    records: list[tuple[int, str]] = []
    origin = anyio.current_time()
    if backend == "trio":
        import trio.lowlevel

        trio.lowlevel.add_instrument(turns)  # type: ignore[arg-type]

    def note(what: str) -> None:
        records.append((turns.turn, f"{anyio.current_time() - origin:g} {what}"))

    async def execution(key: str, steps: list[float]) -> str:
        note(f"{key} starts")
        for n, delay in enumerate(steps):
            await anyio.sleep(delay)
            note(f"{key} step {n}")
        return key

    async def call(key: str, steps: list[float]) -> None:
        assert await flights.do(key, lambda: execution(key, steps)) == key
        note(f"{key} returned")

    async def bystander() -> None:
        for n in range(12):
            note(f"bystander {n}")
            await anyio.sleep(0.25 if n % 3 else 0)

    try:
        async with flights, anyio.create_task_group() as tg:
            tg.start_soon(bystander)
            for at, key, steps in CALLS:
                await anyio.sleep_until(origin + at)
                note(f"call {key}")
                tg.start_soon(call, key, steps)
    finally:
        if backend == "trio":
            trio.lowlevel.remove_instrument(turns)  # type: ignore[arg-type]
    return sorted(records) if backend == "trio" else records


async def test_a_handed_execution_runs_where_a_spawned_task_would(
    anyio_backend_name: str,
) -> None:
    expected = await _record(anyio_backend_name, SpawningFlight())
    flights = CountingFlight()
    got = await _record(anyio_backend_name, flights)
    assert got == expected
    assert 1 < flights.spawned < flights.stats().executions == 11  # the workers were reused


async def test_an_execution_handed_in_its_workers_cancelled_turn_still_fails_its_caller() -> None:
    # The SingleFlight's group is cancelled from outside (not by leaving its block), and in the
    # same turn a caller outside it starts an execution: the idle worker is woken by the job and
    # by the cancellation at once. The job must run (to its first checkpoint, where the
    # cancellation ends it) and its caller get SingleFlightClosed, as with a task per
    # execution; dropping it would leave the caller waiting forever.
    flights = SingleFlight()
    ready = anyio.Event()
    owner_scope = anyio.CancelScope()

    async def owner() -> None:
        with owner_scope:
            async with flights:
                ready.set()
                await anyio.sleep_forever()

    async def quick() -> str:
        await anyio.lowlevel.checkpoint()
        return "a"

    async def slow() -> str:
        await anyio.sleep(0.01)
        return "b"

    async with anyio.create_task_group() as tg:
        tg.start_soon(owner)
        await ready.wait()
        assert await flights.do("a", quick) == "a"  # leaves an idle worker
        await anyio.sleep(0.01)
        assert len(flights._workers._idle) == 1
        owner_scope.cancel()
        with anyio.fail_after(1), pytest.raises(SingleFlightClosed):
            await flights.do("b", slow)
    assert flights.in_flight() == 0


async def test_an_idle_worker_keeps_no_callers_context_alive() -> None:
    request: ContextVar[object] = ContextVar("request")

    class Request:
        pass

    refs: list[weakref.ref[Request]] = []
    async with SingleFlight() as flights:

        async def caller(n: int) -> None:
            found = Request()
            refs.append(weakref.ref(found))
            request.set(found)

            async def fn() -> int:
                await anyio.lowlevel.checkpoint()
                return n

            assert await flights.do(n, fn) == n

        async with anyio.create_task_group() as tg:
            for n in range(3):
                tg.start_soon(caller, n)
        await anyio.sleep(0.01)
        gc.collect()
        assert len(flights._workers._idle) == 3
        assert [ref() for ref in refs] == [None, None, None]
