"""The lean virtual asyncio loop runs exactly what asyncio's own turns run.

``_VirtualEventLoop`` replaces asyncio's ``_run_once``, its timer heap (tuples compared in C
instead of ``TimerHandle.__lt__``), ``call_soon``, ``call_at`` and ``call_later``. Replays are
only reproducible if every callback still runs in asyncio's order, and timers due at the same
instant are common in virtual time; asyncio's heap pops those in an order of its own, not the
order they were scheduled in. These tests run the same programs on it and on
``_AsyncioVirtualEventLoop`` (asyncio's own turns, the virtual selector) and compare them turn by
turn: what ran, when, the heap's layout, the cancelled-timer count.
"""

from __future__ import annotations

import asyncio
import gc
import os
import random
import signal
from collections.abc import Callable
from typing import Any

import anyio
import pytest

from engine import virtual
from engine.virtual import VirtualTimeDeadlock, run_virtual

LOOPS = (virtual._AsyncioVirtualEventLoop, virtual._VirtualEventLoop)

lean_only = pytest.mark.skipif(
    not virtual._LEAN, reason="asyncio's own turn runs on this Python version"
)


def _traced(cls: type[asyncio.AbstractEventLoop]) -> Any:
    class Traced(cls):  # type: ignore[misc,valid-type]
        """Records, after every turn, the clock, the timer heap's layout (as labels), the
        cancelled-timer count and the callbacks left ready."""

        def __init__(self) -> None:
            super().__init__()
            self.turns: list[tuple[Any, ...]] = []
            self.labels: dict[int, int] = {}

        def _run_once(self) -> None:
            # asyncio's condition for rebuilding the heap without its cancelled timers.
            count = len(self._scheduled)
            bulk = count > 100 and self._timer_cancelled_count / count > 0.5
            super()._run_once()
            heap = [(h.when(), self.labels.get(id(h))) for h in self._scheduled]
            self.turns.append(
                (bulk, self.time(), heap, self._timer_cancelled_count, len(self._ready))
            )

    return Traced


def _timer_program(cls: type[asyncio.AbstractEventLoop], seed: int, debug: bool = False) -> Any:
    """Timers with few distinct deadlines (many ties), cancellations (enough for asyncio's
    bulk clean-up of the heap), timers and callbacks scheduled by callbacks; run until nothing
    is left, which is a deadlock in virtual time. Returns what ran, in order, and the turns."""
    rng = random.Random(seed)
    loop = _traced(cls)()
    loop.set_debug(debug)
    fired: list[tuple[str, int, float]] = []
    handles: list[asyncio.TimerHandle] = []
    budget = [400]

    def schedule(label: int) -> None:
        choice = rng.random()
        if choice < 0.4:
            handle = loop.call_later(rng.choice((0, 0.25, 0.5, 0.75)), fire, label)
        elif choice < 0.8:
            now = loop.time()
            handle = loop.call_at(now + rng.choice((0.0, 0.5, 1.0, 1e-10)), fire, label)
        else:
            loop.call_soon(soon, label)
            return
        loop.labels[id(handle)] = label
        handles.append(handle)

    def soon(label: int) -> None:
        fired.append(("soon", label, loop.time()))

    def fire(label: int) -> None:
        fired.append(("timer", label, loop.time()))
        for _ in range(rng.randrange(4)):
            if budget[0] > 0:
                budget[0] -= 1
                schedule(400 + budget[0])
        for _ in range(rng.randrange(3)):
            rng.choice(handles).cancel()

    for label in range(150):
        handle = loop.call_at(rng.choice((1.0, 2.0, 2.0, 3.0)), fire, label)
        loop.labels[id(handle)] = label
        handles.append(handle)
    for handle in rng.sample(handles, 100):  # > 100 timers, > half cancelled: bulk clean-up
        handle.cancel()
    try:
        with pytest.raises(VirtualTimeDeadlock):
            loop.run_forever()
    finally:
        loop.close()
    return fired, loop.turns


@pytest.mark.parametrize("seed", range(6))
def test_timers_run_in_asyncios_order_turn_by_turn(seed: int) -> None:
    fired, turns = _timer_program(virtual._VirtualEventLoop, seed)
    assert (fired, turns) == _timer_program(virtual._AsyncioVirtualEventLoop, seed)
    assert len(fired) > 300
    # The program exercises asyncio's bulk clean-up of cancelled timers.
    assert any(turn[0] for turn in turns)


def test_equal_deadlines_do_not_run_in_scheduling_order() -> None:
    """What the test above guards: asyncio's heap pops timers due at the same instant out of
    their scheduling order, so a first-in-first-out tie-break would change the schedule."""
    for seed in range(6):
        fired, _ = _timer_program(virtual._AsyncioVirtualEventLoop, seed)
        timers = [(at, label) for kind, label, at in fired if kind == "timer" and label < 150]
        if timers != sorted(timers):
            return
    pytest.fail("every tie ran in scheduling order: the timer programs test nothing")


def test_debug_mode_runs_the_same_program() -> None:
    assert _timer_program(virtual._VirtualEventLoop, 3, debug=True) == _timer_program(
        virtual._AsyncioVirtualEventLoop, 3, debug=True
    )


def _sleeps(cls: type[asyncio.AbstractEventLoop], delays: list[float]) -> Any:
    async def main() -> list[float]:
        seen = []
        for delay in delays:
            await asyncio.sleep(delay)
            seen.append(asyncio.get_running_loop().time())
        return seen

    loop = _traced(cls)()
    try:
        return loop.run_until_complete(main()), loop.turns
    finally:
        loop.close()


def test_the_clock_jumps_as_asyncios_selector_timeout_says() -> None:
    """The clock jumps by the timeout asyncio gives the selector, at most a day at a time."""
    delays = [0.1, 0.2, 0.7, 1 / 3, 3 * 86400 + 0.3, 1e-7, 0.1, 0]
    seen, turns = _sleeps(virtual._VirtualEventLoop, delays)
    assert (seen, turns) == _sleeps(virtual._AsyncioVirtualEventLoop, delays)
    expected, now = [], 0.0
    for delay in delays:
        deadline = now + delay
        while now < deadline:
            now += min(deadline - now, 86400)
        expected.append(now)
    assert seen == expected
    # The sleep of 3 days and 0.3 s: three idle turns a day apart, then the rest of the way.
    day = seen[3] + 86400
    assert [day, day + 86400, day + 86400 + 86400] == [
        turn[1] for turn in turns if seen[3] < turn[1] < seen[4]
    ]


@pytest.mark.parametrize("cls", LOOPS)
def test_deadlock_when_only_cancelled_timers_are_left(cls: type[Any]) -> None:
    loop = cls()
    try:
        first = loop.call_later(5, pytest.fail, "a cancelled timer ran")
        second = loop.call_later(10, pytest.fail, "a cancelled timer ran")
        loop.call_at(1, second.cancel)
        loop.call_at(1, first.cancel)
        with pytest.raises(VirtualTimeDeadlock):
            loop.run_forever()
        assert loop.time() == 1
        assert loop._scheduled == []
    finally:
        loop.close()


@pytest.mark.parametrize("cls", LOOPS)
def test_deadlock_with_nothing_scheduled_at_all(cls: type[Any]) -> None:
    async def stuck() -> None:
        await asyncio.get_running_loop().create_future()

    loop = cls()
    try:
        with pytest.raises(VirtualTimeDeadlock):
            loop.run_until_complete(stuck())
    finally:
        loop.close()


@lean_only
def test_handles_are_asyncios_own() -> None:
    loop = virtual._VirtualEventLoop()
    try:
        timer = loop.call_later(2.5, print, "x")
        soon = loop.call_soon(print, "y")
        assert type(timer) is asyncio.TimerHandle and type(soon) is asyncio.Handle
        assert timer.when() == 2.5 and not timer.cancelled()
        assert "print" in repr(timer) and "when=2.5" in repr(timer) and "print" in repr(soon)
        assert loop._scheduled == [timer]
        timer.cancel()
        assert timer.cancelled() and loop._timer_cancelled_count == 1
        assert "cancelled" in repr(timer)
    finally:
        loop.close()


@pytest.mark.parametrize("cls", LOOPS)
def test_a_closed_loop_refuses_callbacks_and_drops_its_timers(cls: type[Any]) -> None:
    loop = cls()
    loop.call_later(1, print)
    loop.call_soon(print)
    loop.close()
    assert loop._scheduled == [] and len(loop._ready) == 0
    for schedule in (
        lambda: loop.call_soon(print),
        lambda: loop.call_later(1, print),
        lambda: loop.call_at(1, print),
    ):
        with pytest.raises(RuntimeError, match="closed"):
            schedule()
    with pytest.raises(TypeError):
        loop.call_at(None, print)  # type: ignore[arg-type]


@pytest.mark.parametrize("cls", LOOPS)
def test_a_raising_callback_goes_to_the_exception_handler(cls: type[Any]) -> None:
    seen: list[Any] = []
    loop = cls()
    loop.set_exception_handler(lambda _, context: seen.append(context["exception"]))
    try:
        loop.call_later(1, lambda: 1 / 0)
        loop.call_later(2, loop.stop)
        loop.run_forever()
        assert [type(exc) for exc in seen] == [ZeroDivisionError] and loop.time() == 2
    finally:
        loop.close()


def test_async_generators_are_finalised_at_the_end_of_a_run() -> None:
    closed: list[float] = []

    async def ticks() -> Any:
        try:
            while True:
                await anyio.sleep(1)
                yield
        finally:
            closed.append(anyio.current_time())

    async def main() -> None:
        agen = ticks()
        await agen.__anext__()
        await agen.__anext__()  # left suspended: the run's end must close it

    run_virtual(main, backend="asyncio")
    gc.collect()
    assert closed == [2.0]


@pytest.mark.skipif(not hasattr(signal, "SIGUSR1"), reason="no SIGUSR1")
@pytest.mark.parametrize("cls", LOOPS)
def test_signal_handlers_run_before_the_clock_jumps(cls: type[Any]) -> None:
    handled: list[float] = []

    async def main() -> float:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGUSR1, lambda: handled.append(loop.time()))
        try:
            await asyncio.sleep(1)  # an idle turn first: the signal's byte is the only news
            os.kill(os.getpid(), signal.SIGUSR1)
            await asyncio.sleep(30)
        finally:
            loop.remove_signal_handler(signal.SIGUSR1)
        return loop.time()

    loop = cls()
    try:
        assert loop.run_until_complete(main()) == 31
    finally:
        loop.close()
    assert handled == [1.0]


def test_versions_not_verified_run_asyncios_own_turn() -> None:
    own: Callable[..., Any] = virtual._VirtualEventLoop._run_once
    if virtual._LEAN:
        assert own is not asyncio.BaseEventLoop._run_once  # type: ignore[attr-defined]
    else:
        assert own is asyncio.BaseEventLoop._run_once  # type: ignore[attr-defined]


@pytest.mark.parametrize("cls", LOOPS)
def test_a_ready_descriptor_is_seen_on_busy_turns_too(cls: type[Any]) -> None:
    """With more than the self-pipe registered (real I/O, outside the guarantee) the selector is
    polled on every turn, as asyncio does, not only when the loop is idle."""
    import socket

    def run(cls: type[Any]) -> list[tuple[str, int]]:
        order: list[tuple[str, int]] = []
        loop = cls()
        ours, theirs = socket.socketpair()
        try:

            def spin(n: int) -> None:
                order.append(("spin", n))
                if n < 5:
                    loop.call_soon(spin, n + 1)
                else:
                    loop.stop()

            def readable() -> None:
                order.append(("read", len(order)))
                loop.remove_reader(ours)

            loop.add_reader(ours, readable)
            theirs.send(b"x")
            loop.call_soon(spin, 0)
            loop.run_forever()
        finally:
            ours.close()
            theirs.close()
            loop.close()
        return order

    order = run(cls)
    assert order == run(virtual._AsyncioVirtualEventLoop)
    assert ("read", 1) in order


def _wakeups(cls: type[Any], from_thread: bool) -> Any:
    """Callbacks scheduled through the self-pipe (call_soon_threadsafe) while timers wait: from
    the loop's own thread, or from a thread the callback starts and joins."""
    import threading

    order: list[tuple[str, float]] = []
    loop = _traced(cls)()

    def note(label: str) -> None:
        order.append((label, loop.time()))

    def wake(label: str) -> None:
        note(f"wake {label}")
        if from_thread:
            thread = threading.Thread(target=loop.call_soon_threadsafe, args=(note, label))
            thread.start()
            thread.join()
        else:
            loop.call_soon_threadsafe(note, label)

    try:
        for at in (1.0, 1.0, 2.5, 4.0):
            loop.call_at(at, wake, f"at {at}")
        loop.call_at(3.0, loop.call_soon, wake, "soon at 3")
        loop.call_at(5.0, loop.stop)
        loop.run_forever()
    finally:
        loop.close()
    return order, loop.turns


@pytest.mark.parametrize("from_thread", [False, True])
def test_wakeups_through_the_self_pipe_are_read_as_asyncio_reads_them(from_thread: bool) -> None:
    order, turns = _wakeups(virtual._VirtualEventLoop, from_thread)
    assert (order, turns) == _wakeups(virtual._AsyncioVirtualEventLoop, from_thread)
    assert ("at 1.0", 1.0) in order and ("soon at 3", 3.0) in order


@lean_only
def test_idle_turns_poll_only_when_the_self_pipe_may_be_readable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    polls: list[float] = []
    real = virtual._real_select

    def counted(selector: Any, timeout: float) -> Any:
        polls.append(loop.time())
        return real(selector, timeout)

    monkeypatch.setattr(virtual, "_real_select", counted)
    loop = virtual._VirtualEventLoop()
    try:
        for at in (1, 2, 3):
            loop.call_at(at, len, "")
        loop.call_at(2, loop.call_soon_threadsafe, len, "")
        loop.call_at(4, loop.stop)
        loop.run_forever()
    finally:
        loop.close()
    # The first idle turn polls (the loop starts flagged), then only the one after the write.
    assert polls == [0.0, 2.0]


def _nan_timer(cls: type[Any]) -> list[tuple[str, float]]:
    loop = cls()
    log: list[tuple[str, float]] = []

    async def main() -> None:
        loop.call_at(float("nan"), lambda: log.append(("nan timer", loop.time())))
        await asyncio.sleep(5)
        log.append(("after a 5 s sleep", loop.time()))

    try:
        loop.run_until_complete(main())
    finally:
        loop.close()
    return log


def test_a_nan_deadline_moves_the_clock_as_this_versions_asyncio_does() -> None:
    # 3.11 and 3.12 clamp the select timeout with min and max (a NaN deadline fires at once,
    # the clock stays); 3.13 with comparisons (the NaN reaches the clock). The lean turn
    # clamps as the running version does.
    expected = _nan_timer(virtual._AsyncioVirtualEventLoop)
    assert repr(_nan_timer(virtual._VirtualEventLoop)) == repr(expected)
