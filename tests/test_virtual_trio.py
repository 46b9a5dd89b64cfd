"""The virtual trio clock runs what ``MockClock(autojump_threshold=0)`` runs, at the same times.

``run_virtual`` on trio uses a clock of its own (``_VirtualTrioClock``) that jumps as soon as
trio asks how long to sleep, one turn of trio's loop before MockClock's autojump would. These
tests run the same programs with both clocks, the same seed, and compare what ran when.
"""

from __future__ import annotations

import gc
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest
import trio
import trio.lowlevel
import trio.testing

from engine import virtual


def _run(fn: Callable[[], Awaitable[Any]], mock: bool, seed: int = 3) -> Any:
    options = virtual.backend_options("trio", seed)  # seeds trio's scheduler
    if mock:
        options = {"clock": trio.testing.MockClock(autojump_threshold=0)}
    return anyio.run(fn, backend="trio", backend_options=options)


def test_run_virtual_uses_the_virtual_clock() -> None:
    async def clock() -> str:
        return type(trio.lowlevel.current_clock()).__name__

    assert anyio.run(clock, backend="trio", backend_options=virtual.backend_options("trio")) == (
        "_VirtualTrioClock"
    )


def _program() -> Callable[[], Awaitable[list[tuple[Any, ...]]]]:
    """Tasks racing at the same instants (trio's seeded shuffles decide), sleeps of awkward
    lengths, deadlines that expire and some that do not, a day-long sleep, checkpoints."""

    async def main() -> list[tuple[Any, ...]]:
        seen: list[tuple[Any, ...]] = []
        lock = anyio.Lock()

        async def worker(i: int) -> None:
            for step in range(6):
                await anyio.sleep((0.25, 0.1, 1 / 3, 0, 0.7, 0.25)[(i + step) % 6])
                seen.append(("woke", i, step, anyio.current_time()))
                with anyio.move_on_after((0.2, 5, 0.05)[(i * step) % 3]) as scope:
                    async with lock:
                        seen.append(("locked", i, step, anyio.current_time()))
                        await anyio.sleep(0.1)
                seen.append(("scope", i, step, scope.cancelled_caught, anyio.current_time()))
                await anyio.lowlevel.checkpoint()

        async with anyio.create_task_group() as tg:
            for i in range(12):
                tg.start_soon(worker, i)
            await anyio.sleep(3 * 86400 + 0.3)
        seen.append(("end", anyio.current_time()))
        return seen

    return main


@pytest.mark.parametrize("seed", [0, 3, 11])
def test_same_order_and_times_as_mock_clock(seed: int) -> None:
    ours = _run(_program(), mock=False, seed=seed)
    assert ours == _run(_program(), mock=True, seed=seed)
    assert ours[-1] == ("end", 3 * 86400 + 0.3)
    assert any(row[0] == "scope" and row[3] for row in ours)  # some deadlines expired


def test_tasks_waiting_for_all_blocked_wake_before_the_jump() -> None:
    async def main() -> list[tuple[str, float]]:
        seen: list[tuple[str, float]] = []

        async def sleeper() -> None:
            await anyio.sleep(10)
            seen.append(("slept", anyio.current_time()))

        async with anyio.create_task_group() as tg:
            tg.start_soon(sleeper)
            await trio.testing.wait_all_tasks_blocked()
            seen.append(("all blocked", anyio.current_time()))
        return seen

    seen = _run(main, mock=False)
    assert seen == _run(main, mock=True) == [("all blocked", 0.0), ("slept", 10.0)]


def test_callbacks_in_the_entry_queue_run_before_the_jump() -> None:
    async def main() -> list[tuple[str, float]]:
        seen: list[tuple[str, float]] = []
        token = trio.lowlevel.current_trio_token()
        await anyio.sleep(1)  # trio's entry-queue task is blocked from now on
        token.run_sync_soon(lambda: seen.append(("soon", trio.current_time())))
        await anyio.sleep(5)
        seen.append(("slept", anyio.current_time()))
        return seen

    seen = _run(main, mock=False)
    assert seen == _run(main, mock=True) == [("soon", 1.0), ("slept", 6.0)]


def test_async_generators_collected_mid_run_are_finalised_before_the_jump() -> None:
    async def main() -> list[tuple[str, float]]:
        seen: list[tuple[str, float]] = []

        async def ticks() -> Any:
            try:
                while True:
                    yield
            finally:
                seen.append(("finalised", trio.current_time()))

        await anyio.sleep(1)  # trio's entry-queue task is blocked from now on
        agen = ticks()
        await agen.__anext__()
        del agen
        gc.collect()  # trio's finaliser hook queues the generator's aclose with run_sync_soon
        await anyio.sleep(7)
        seen.append(("slept", anyio.current_time()))
        return seen

    seen = _run(main, mock=False)
    assert seen == _run(main, mock=True) == [("finalised", 1.0), ("slept", 8.0)]
