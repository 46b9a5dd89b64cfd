"""engine.workers.WorkerPool, as the replay runs its arrivals on it: each job starts where a
task spawned for it would have started, errors and cancellation behave as with a task per job
(no worker left behind, no job dropped), and an idle worker keeps nobody's context."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextvars import ContextVar, copy_context
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from engine.workers import WorkerPool

pytestmark = pytest.mark.anyio

# (instant, label, steps): an arrival starts at its instant and then takes its steps, each a
# checkpoint (0) or a sleep. Some arrivals overlap, others find the earlier ones finished, so
# the workers are both spawned and reused.
ARRIVALS: list[tuple[float, str, list[float]]] = [
    (0.0, "a", [0, 0.5, 0]),
    (0.0, "b", [0]),
    (0.0, "c", [1.0]),
    (1.0, "d", [0, 0]),
    (1.0, "e", [2.0, 0]),
    (2.5, "f", [0]),
    (2.5, "g", []),
    (2.5, "h", [0.5]),
    (3.0, "i", [0, 0, 0]),
    (3.0, "j", [0]),
    (10.0, "k", [1.0]),
    (10.0, "l", []),
]


class _Turns:
    """The event loop's turn, for the record: on trio, each batch of runnable tasks (an
    instrument counts the I/O waits between batches; trio shuffles each batch, so only which
    batch a step ran in is comparable); on asyncio, whose ready queue is FIFO, the order of the
    records is exact and the turn stays 0."""

    def __init__(self, backend: str) -> None:
        self.turn = 0
        self.trio = backend == "trio"

    def after_io_wait(self, timeout: float) -> None:
        self.turn += 1


async def _record(backend: str, start: Callable[[Any, Any], None]) -> list[tuple[int, str]]:
    """Run ARRIVALS as the runner does (sleep until each instant, then start it) beside a
    bystander task, and record every step with its turn."""
    turns = _Turns(backend)
    records: list[tuple[int, str]] = []
    origin = anyio.current_time()
    if turns.trio:
        import trio.lowlevel

        trio.lowlevel.add_instrument(turns)  # type: ignore[arg-type]

    def note(what: str) -> None:
        records.append((turns.turn, f"{anyio.current_time() - origin:g} {what}"))

    async def bystander() -> None:
        for n in range(12):
            note(f"bystander {n}")
            await anyio.sleep(0.25 if n % 3 else 0)

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(bystander)
            for at, label, steps in ARRIVALS:
                await anyio.sleep_until(origin + at)
                note(f"hand {label}")
                start(tg, (label, steps, note))
    finally:
        if turns.trio:
            trio.lowlevel.remove_instrument(turns)  # type: ignore[arg-type]
    if turns.trio:
        # Within a batch trio's order is its (seeded) shuffle of the runnable tasks by their
        # creation order, which a reused worker does not have: compare batches as sets.
        return sorted(records)
    return records


_workers_seen: set[int] = set()


async def _fake_perform(client: object, arrival: Any, tally: object) -> None:
    _workers_seen.add(anyio.get_current_task().id)
    label, steps, note = arrival
    note(f"{label} starts")
    for n, delay in enumerate(steps):
        await anyio.sleep(delay)
        note(f"{label} step {n}")


async def test_a_handed_arrival_starts_where_a_spawned_task_would(
    anyio_backend_name: str,
) -> None:

    def spawn(tg: Any, arrival: Any) -> None:
        tg.start_soon(_fake_perform, None, arrival, None)

    pools: list[WorkerPool] = []

    def hand(tg: Any, arrival: Any) -> None:
        if not pools:
            pools.append(WorkerPool(tg.start_soon))
        pools[0].start(_fake_perform, None, arrival, None)
        if arrival[0] == ARRIVALS[-1][1]:
            pools[0].close()

    expected = await _record(anyio_backend_name, spawn)
    got = await _record(anyio_backend_name, hand)
    assert got == expected
    assert 1 < len(_workers_seen) < len(ARRIVALS)  # the workers were reused
    assert pools[0]._idle == []


class _Replay:
    """``arrivals`` (instant, label) run on a pool as the replay runs them, each job
    ``perform(label)``; records the tasks that ran arrivals."""

    def __init__(
        self,
        perform: Callable[[str], Awaitable[None]],
        arrivals: list[tuple[float, str]],
    ) -> None:
        self.arrivals = arrivals
        self.tasks: set[int] = set()
        self.workers: WorkerPool | None = None

        async def run(client: object, label: Any, tally: object) -> None:
            self.tasks.add(anyio.get_current_task().id)
            await perform(label)

        self.run = run

    async def __call__(self, *, close: bool = True) -> None:
        async with anyio.create_task_group() as tg:
            self.workers = workers = WorkerPool(tg.start_soon)
            try:
                for at, label in self.arrivals:
                    await anyio.sleep_until(at)
                    workers.start(self.run, None, label, None)
            finally:
                if close:
                    workers.close()


async def test_an_arrival_that_raises_ends_the_replay_and_leaves_no_worker() -> None:
    finished: list[str] = []
    cancelled: list[str] = []

    async def perform(label: str) -> None:
        try:
            await anyio.sleep(50.0 if label == "long" else 1.0)
        except anyio.get_cancelled_exc_class():
            cancelled.append(label)
            raise
        if label == "boom":
            raise LookupError(label)
        finished.append(label)

    arrivals = [(0.0, "a"), (0.0, "long"), (2.0, "b"), (4.0, "c"), (5.0, "boom"), (5.5, "d")]
    arrivals += [(float(t), f"late-{t}") for t in range(7, 20)]
    replay = _Replay(perform, arrivals)
    with anyio.fail_after(100), pytest.RaisesGroup(pytest.RaisesExc(LookupError, match="boom")):
        await replay()
    # The failure at 6.0 cancelled the arrivals still running and the replay's loop; the idle
    # worker ended with the group, as the tasks of a task per arrival would have.
    assert anyio.current_time() == 6.0
    assert finished == ["a", "b", "c"]
    assert sorted(cancelled) == ["d", "long"]
    assert len(replay.tasks) == 3  # a's worker ran b, c and boom; d got a new one
    assert replay.workers is not None and replay.workers._idle == []


@pytest.mark.parametrize("close", [True, False])
async def test_a_replay_cancelled_midway_leaves_no_worker(close: bool) -> None:
    started: list[str] = []
    finished: list[str] = []

    async def perform(label: str) -> None:
        started.append(label)
        await anyio.sleep(2.0 if label.startswith("slow") else 0.5)
        finished.append(label)

    arrivals = [(0.0, "slow-1"), (0.0, "a"), (0.0, "b"), (1.0, "c"), (1.0, "slow-2")]
    arrivals += [(3.0, "never")]
    replay = _Replay(perform, arrivals)
    with anyio.move_on_after(2.5) as guard:
        # Without close(), the idle workers leave the idle list themselves as they are
        # cancelled: no arrival can be handed to a worker that has ended.
        await replay(close=close)
    assert guard.cancelled_caught and anyio.current_time() == 2.5
    assert started == ["slow-1", "a", "b", "c", "slow-2"]
    assert sorted(finished) == ["a", "b", "c", "slow-1"]  # slow-2 was cancelled
    assert len(replay.tasks) == 3  # c and slow-2 went to the idle workers of a and b
    assert replay.workers is not None and replay.workers._idle == []


async def test_close_ends_idle_workers_and_lets_busy_ones_finish() -> None:
    finished: list[tuple[float, str]] = []

    async def perform(label: str) -> None:
        await anyio.sleep(5.0 if label == "slow" else 0.1)
        finished.append((anyio.current_time(), label))

    replay = _Replay(perform, [(0.0, "slow"), (0.0, "a"), (1.0, "b"), (2.0, "c")])
    with anyio.fail_after(100):
        await replay()
    assert finished == [(0.1, "a"), (1.1, "b"), (2.1, "c"), (5.0, "slow")]
    assert anyio.current_time() == 5.0  # the group ended with the last busy worker
    assert len(replay.tasks) == 2
    assert replay.workers is not None and replay.workers._idle == []


async def test_a_job_handed_in_the_turn_its_worker_is_cancelled_still_runs() -> None:
    # A job handed to an idle worker in the very turn the group is cancelled (a replay's
    # horizon, say) runs up to its first checkpoint, as a task spawned there would: here it
    # has none, so it completes. Dropping it would lose what it does before that checkpoint.
    ran: list[str] = []

    async def job(label: str) -> None:
        ran.append(label)

    async with anyio.create_task_group() as tg:
        workers = WorkerPool(tg.start_soon)
        workers.start(job, "first")
        await anyio.sleep(0.01)
        assert len(workers._idle) == 1
        tg.cancel_scope.cancel()
        workers.start(job, "second")
        workers.close()
    assert ran == ["first", "second"]


async def test_a_job_runs_in_the_context_it_is_given_and_a_worker_in_the_pools() -> None:
    var: ContextVar[str] = ContextVar("test_workers", default="unset")
    seen: list[tuple[str, str]] = []

    async def job(label: str) -> None:
        seen.append((label, var.get()))
        await anyio.lowlevel.checkpoint()
        var.set(f"set by {label}")  # stays in the job's context: the next job does not see it
        seen.append((label, var.get()))

    async with anyio.create_task_group() as tg:
        var.set("the pool's")
        workers = WorkerPool(tg.start_soon)
        var.set("later")
        workers.start(job, "own")  # a new worker: the pool's context, not this call's
        await anyio.sleep(0.01)
        given = copy_context()
        given.run(var.set, "given")
        workers.start(job, "given", context=given)  # the idle worker, in the given context
        await anyio.sleep(0.01)
        workers.start(job, "own again")
        workers.close()
    assert seen == [
        ("own", "the pool's"),
        ("own", "set by own"),
        ("given", "given"),
        ("given", "set by given"),
        # The worker's own context again: what a job without one sets, the next one sees.
        ("own again", "set by own"),
        ("own again", "set by own again"),
    ]
    assert given.run(var.get) == "set by given"
