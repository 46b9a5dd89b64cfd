"""The engine inside a freezegun test (issue 15): what a frozen clock does to it, and the fix.

freezegun's ``freeze_time`` patches ``time.monotonic`` and ``time.perf_counter`` as well as the
wall clock, and both event loops read those: asyncio's ``loop.time()`` is ``time.monotonic()``
and trio's clock is ``time.perf_counter()``. The engine's ``SystemClock.monotonic()`` is the
event loop's clock, so under a plain ``freeze_time`` every timer, the rate limiter's spacing
included, waits for a time that never comes: the first request is granted at once, the second
never is. These tests show that stall (bounded by a real-time watchdog thread, since the loop's
own deadlines are frozen too), the two ways out, and the recommended pattern: the engine in
virtual time (``engine.testing.run_virtual`` with a ``VirtualClock``) while freezegun freezes
the wall clock for the user's own code.

The tests call ``anyio.run`` / ``run_virtual`` themselves (freezegun must be entered outside the
event loop), so they are plain functions parametrised over the backends.
"""

from __future__ import annotations

import datetime
import threading
import time
from collections.abc import Callable
from typing import Any

import anyio
import pytest
from freezegun import freeze_time

from engine import Engine, EngineConfig, SystemClock, load_config
from engine.clock import Clock
from engine.testing import BACKENDS, VirtualClock, run_virtual

FROZEN = "2026-03-01T12:00:00Z"
FROZEN_EPOCH = datetime.datetime(2026, 3, 1, 12, tzinfo=datetime.UTC).timestamp()

# Tiny limits: where a test runs in real time, three requests 2 ms apart cost 4 ms.
CONFIG = load_config(
    """
    [rate]
    rules = [{ limit = 100, window = 60 }]
    min_interval = 0.002
    [concurrency]
    limit = 2
    [cache.ttl.albums]
    ttl = 3600
    """,
    EngineConfig,
)
KEYS = ("a", "b", "c")


def make_fetch(calls: list[str], key: str) -> Callable[[], Any]:
    async def fetch() -> str:
        calls.append(key)
        return f"album {key}"

    return fetch


async def fetch_all(clock: Clock, calls: list[str]) -> dict[str, Any]:
    async with Engine(CONFIG, clock=clock) as engine:
        start = clock.monotonic()
        for key in KEYS:
            await engine.cached("albums", key, make_fetch(calls, key))
        return {
            "elapsed": clock.monotonic() - start,
            "engine_wall": clock.wall(),
            "user_now": datetime.datetime.now(datetime.UTC),
        }


def cancel_after(seconds: float) -> Callable[[], None]:
    """Inside a running asyncio loop: cancel the current task after ``seconds`` of real time.

    The loop's own deadlines cannot do this under freeze_time, because its clock does not move.
    freezegun ignores the ``threading`` module, so the watchdog thread's timer runs on real
    time. Returns the function that disarms the watchdog.
    """
    import asyncio

    loop, task = asyncio.get_running_loop(), asyncio.current_task()
    assert task is not None
    timer = threading.Timer(seconds, lambda: loop.call_soon_threadsafe(task.cancel))
    timer.daemon = True
    timer.start()
    return timer.cancel


@pytest.mark.parametrize("backend", BACKENDS)
def test_system_clock_stalls_under_plain_freeze_time(backend: str) -> None:
    """The event loop's clock is frozen: the first request goes out, the second waits forever."""
    calls: list[str] = []
    outcome: dict[str, Any] = {}

    async def main() -> None:
        outcome["loop_time_frozen"] = anyio.current_time() == anyio.current_time()
        if backend == "asyncio":
            stop = cancel_after(0.03)
            try:
                await fetch_all(SystemClock(), calls)
            finally:
                stop()
        else:
            import trio

            token, scope = trio.lowlevel.current_trio_token(), trio.CancelScope()
            timer = threading.Timer(0.03, lambda: token.run_sync_soon(scope.cancel))
            timer.daemon = True
            timer.start()
            try:
                with scope:
                    await fetch_all(SystemClock(), calls)
            finally:
                timer.cancel()
            outcome["cancelled"] = scope.cancelled_caught

    started = time.perf_counter()
    with freeze_time(FROZEN):
        if backend == "asyncio":
            import asyncio

            with pytest.raises(asyncio.CancelledError):
                anyio.run(main, backend=backend)
        else:
            anyio.run(main, backend=backend)
            assert outcome["cancelled"]
    assert calls == ["a"], "only the first request is granted: 2 ms never pass on a frozen clock"
    assert outcome["loop_time_frozen"]
    assert time.perf_counter() - started < 5  # the watchdog, not a timer of the loop, ended it


def test_asyncio_real_asyncio_lets_system_clock_progress() -> None:
    """``freeze_time(real_asyncio=True)``: limits run on real time, the cache on frozen time.

    The asyncio loop (and so ``SystemClock.monotonic()``) sees the real monotonic clock, so the
    rate limiter's spacing passes in real time (keep the test's limits tiny); ``wall()``, which
    cache expiry reads, is the frozen time, so an entry expires when the test moves the frozen
    clock past its TTL and not before.
    """
    calls: list[str] = []
    clock = SystemClock()

    async def main(frozen: Any) -> None:
        async with Engine(CONFIG, clock=clock) as engine:
            for key in KEYS:
                await engine.cached("albums", key, make_fetch(calls, key))
            assert clock.wall() == FROZEN_EPOCH
            await engine.cached("albums", "a", make_fetch(calls, "a"))  # fresh: a hit
            frozen.tick(3599)
            await engine.cached("albums", "a", make_fetch(calls, "a"))  # 1 s left: a hit
            frozen.tick(2)
            await engine.cached("albums", "a", make_fetch(calls, "a"))  # expired: fetched

    with freeze_time(FROZEN, real_asyncio=True) as frozen:
        anyio.run(main, frozen, backend="asyncio")
    assert calls == ["a", "b", "c", "a"]


def test_trio_needs_its_module_ignored() -> None:
    """``real_asyncio`` does nothing for trio; ``ignore=["trio"]`` lets its clock run.

    freezegun then answers with real time whenever a ``trio`` frame is within its few frames of
    call-stack inspection, which includes code called near a task's root, so wall time is only
    partly frozen there: prefer virtual time (next test) to this.
    """
    calls: list[str] = []
    with freeze_time(FROZEN, ignore=["trio"]):
        result = anyio.run(fetch_all, SystemClock(), calls, backend="trio")
    assert calls == list(KEYS)
    assert result["elapsed"] >= 2 * 0.002


@pytest.mark.parametrize("backend", BACKENDS)
def test_recommended_virtual_time_with_frozen_wall_clock(backend: str) -> None:
    """The pattern for users' tests: the engine in virtual time, freezegun for the user's code.

    ``run_virtual`` drives a virtual event loop whose clock freezegun does not touch, and a
    ``VirtualClock``'s wall time is its epoch plus the virtual time, so the engine's limits and
    TTLs run as usual (and cost no wall time), while ``datetime.now()`` in the user's own code
    returns the frozen instant.
    """
    calls: list[str] = []
    with freeze_time(FROZEN):
        result = run_virtual(fetch_all, VirtualClock(), calls, backend=backend, seed=0)
    assert calls == list(KEYS)
    assert result["elapsed"] == pytest.approx(2 * 0.002)  # exactly the spacing, in virtual time
    assert result["engine_wall"] == pytest.approx(VirtualClock().epoch + 2 * 0.002)
    assert result["user_now"] == datetime.datetime(2026, 3, 1, 12, tzinfo=datetime.UTC)


@pytest.mark.parametrize("backend", BACKENDS)
def test_virtual_ttls_ignore_freezegun_ticks(backend: str) -> None:
    """A ``VirtualClock`` engine's cache expires with virtual sleeps, not with ``frozen.tick``."""
    calls: list[str] = []

    async def main(frozen: Any) -> None:
        async with Engine(CONFIG, clock=VirtualClock()) as engine:
            await engine.cached("albums", "a", make_fetch(calls, "a"))
            frozen.tick(7200)  # the user's wall clock: two hours on
            await engine.cached("albums", "a", make_fetch(calls, "a"))  # still fresh
            await anyio.sleep(3601)  # virtual time: past the TTL, no wall time spent
            await engine.cached("albums", "a", make_fetch(calls, "a"))

    with freeze_time(FROZEN) as frozen:
        run_virtual(main, frozen, backend=backend, seed=0)
    assert calls == ["a", "a"]
