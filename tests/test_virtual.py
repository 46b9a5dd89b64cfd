from __future__ import annotations

import time

import anyio
import pytest

from engine.clock import DEFAULT_EPOCH, SystemClock, VirtualClock
from engine.virtual import BACKENDS, VirtualTimeDeadlock, loop_time, run_virtual

pytestmark = pytest.mark.anyio


async def test_an_hour_of_sleeps_costs_no_wall_time() -> None:
    started = time.perf_counter()
    clock = VirtualClock()
    before = clock.monotonic()
    await anyio.sleep(3600)
    assert clock.monotonic() - before == pytest.approx(3600)
    assert clock.wall() - DEFAULT_EPOCH == pytest.approx(clock.monotonic())
    assert time.perf_counter() - started < 1.0


async def test_deadlines_follow_virtual_time() -> None:
    clock = VirtualClock(epoch=0.0)
    with anyio.move_on_after(86400 * 60) as scope:
        await anyio.sleep_forever()
    assert scope.cancelled_caught
    assert clock.wall() == pytest.approx(86400 * 60)


@pytest.mark.parametrize("backend", BACKENDS)
def test_same_seed_same_schedule(backend: str) -> None:
    async def race() -> list[int]:
        order: list[int] = []
        limiter = anyio.CapacityLimiter(1)

        async def worker(i: int) -> None:
            await anyio.sleep(1)  # all wake at the same instant and race for the limiter
            async with limiter:
                order.append(i)
                await anyio.sleep(0.1)

        async with anyio.create_task_group() as tg:
            for i in range(30):
                tg.start_soon(worker, i)
        return order

    runs = [run_virtual(race, backend=backend, seed=7) for _ in range(3)]
    assert runs[0] == runs[1] == runs[2]
    assert sorted(runs[0]) == list(range(30))


def test_asyncio_deadlock_is_reported() -> None:
    async def stuck() -> None:
        await anyio.Event().wait()

    with pytest.raises(VirtualTimeDeadlock):
        run_virtual(stuck, backend="asyncio")


def test_unknown_backend() -> None:
    async def nothing() -> None:
        return None

    with pytest.raises(ValueError, match="backend"):
        run_virtual(nothing, backend="curio")  # type: ignore[arg-type]


async def test_system_clock_reads_real_wall_time() -> None:
    clock = SystemClock()
    assert abs(clock.wall() - time.time()) < 5
    assert clock.monotonic() == anyio.current_time()


async def test_loop_time_is_anyio_current_time() -> None:
    # loop_time skips anyio's backend detection; it must read the same clock on both loops.
    assert loop_time() == anyio.current_time() == 0.0
    await anyio.sleep(12.5)
    assert loop_time() == anyio.current_time() == 12.5
    clock = VirtualClock(epoch=100.0)
    assert (clock.monotonic(), clock.wall()) == (12.5, 112.5)


@pytest.mark.parametrize("first", BACKENDS)
def test_loop_time_follows_each_new_loop(first: str) -> None:
    # A run on one loop, then on the other, then a fresh one of the first: each reads its own
    # loop's clock, which starts at 0, never a loop it saw before.
    async def read(delay: float) -> tuple[float, float]:
        await anyio.sleep(delay)
        return loop_time(), anyio.current_time()

    other = "trio" if first == "asyncio" else "asyncio"
    runs = [
        run_virtual(read, 3.0, backend=first),  # type: ignore[arg-type]
        run_virtual(read, 5.0, backend=other),  # type: ignore[arg-type]
        run_virtual(read, 7.0, backend=first),  # type: ignore[arg-type]
    ]
    assert runs == [(3.0, 3.0), (5.0, 5.0), (7.0, 7.0)]


def test_loop_time_outside_a_loop_raises_as_anyio_does() -> None:
    with pytest.raises(anyio.NoEventLoopError):
        anyio.current_time()
    with pytest.raises(anyio.NoEventLoopError):
        loop_time()


def test_loop_time_is_trios_clock_when_trio_runs_as_a_guest_on_asyncio() -> None:
    """trio as a guest on an asyncio loop: the running asyncio loop is not trio's clock, and
    ``loop_time`` answers as ``anyio.current_time()`` does there (trio's)."""
    import asyncio

    import trio
    import trio.lowlevel
    import trio.testing

    from engine.virtual import loop_time

    seen: list[tuple[float, float]] = []

    async def trio_main() -> None:
        await trio.lowlevel.checkpoint()
        seen.append((loop_time(), anyio.current_time()))

    async def host() -> None:
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        trio.lowlevel.start_guest_run(
            trio_main,
            run_sync_soon_threadsafe=loop.call_soon_threadsafe,
            done_callback=done.set_result,
            clock=trio.testing.MockClock(rate=0, autojump_threshold=0),
        )
        (await done).unwrap()

    asyncio.run(host())
    assert len(seen) == 1 and seen[0][0] == seen[0][1]
