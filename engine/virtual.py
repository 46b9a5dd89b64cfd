"""Run a coroutine function in virtual time, deterministically, on asyncio or trio.

This module is the engine's one adapter to the concrete event loops (asyncio's and trio's);
everything else is anyio.

Guarantee: inside :func:`run_virtual` time only moves when every task is blocked, and then it
jumps straight to the next deadline, so an hour of sleeps costs no wall time. Given the same
coroutine and the same ``seed``, the run schedules tasks in the same order every time on a given
event loop (asyncio is FIFO; trio's scheduler randomness is seeded), so its results are identical.

Limits: no real I/O and no threads inside a virtual run. A socket, a Redis round trip,
``anyio.to_thread`` or a DNS lookup takes real time while the virtual clock sees an idle loop and
jumps ahead by an arbitrary amount, and socket timeouts fire at once. Use in-process transports
and stores. The two event loops may order simultaneous wake-ups differently: give events distinct
instants and aggregate results order-insensitively when both must agree.
"""

from __future__ import annotations

import asyncio
import asyncio.log
import contextvars
import functools
import heapq
import math
import selectors
import sys
from collections.abc import Awaitable, Callable
from typing import Any, Literal, TypeVar

import anyio
import sniffio

from engine.errors import EngineError

__all__ = [
    "BACKENDS",
    "Backend",
    "VirtualTimeDeadlock",
    "backend_options",
    "loop_time",
    "run_virtual",
]

T = TypeVar("T")
Backend = Literal["asyncio", "trio"]
BACKENDS: tuple[Backend, ...] = ("asyncio", "trio")


_get_running_loop = asyncio._get_running_loop


class VirtualTimeDeadlock(EngineError, RuntimeError):
    """Every task is blocked and nothing is scheduled: in virtual time this would hang forever."""


class _VirtualSelector(selectors.DefaultSelector):  # type: ignore[misc,valid-type]
    """A selector that never blocks: when idle it advances the loop's virtual clock instead.

    Used by asyncio's own ``_run_once`` on the Python versions the loop's lean turn
    (:meth:`_VirtualEventLoop._run_once`) was not verified against; that turn does the same
    inline.
    """

    def __init__(self, loop: _AsyncioVirtualEventLoop) -> None:
        super().__init__()
        self._loop = loop

    def select(self, timeout: float | None = None) -> list[Any]:
        if timeout == 0 and len(self._fd_to_key) <= 1:
            # Callbacks are ready and nothing but the loop's own wake-up pipe is registered
            # (no threads in a virtual run): no descriptor can be ready, so skip the system
            # call that most turns of a replay would make for nothing.
            return []
        ready = super().select(0)
        if ready or timeout == 0:
            return ready
        if timeout is None:
            raise _deadlock()
        self._loop.advance(timeout)
        return ready


def _deadlock() -> VirtualTimeDeadlock:
    return VirtualTimeDeadlock(
        "every task is waiting and no timer is scheduled; wrap the run in "
        "anyio.fail_after(...) to turn a deadlock into a timeout"
    )


#: The versions whose ``BaseEventLoop._run_once``, ``call_at``, ``call_soon`` and handles the
#: lean loop below was checked against, line by line (3.13 only computes the select timeout
#: with comparisons instead of ``min``/``max``: the same value but for a NaN deadline, which
#: each version's way gives, see ``_CLAMP_BY_MIN_MAX``), on CPython (whose floats are
#: distinct objects: see ``_timers``). Elsewhere asyncio's own turn and scheduling run, with the
#: virtual selector.
_LEAN = sys.implementation.name == "cpython" and sys.version_info[:2] in (
    (3, 11),
    (3, 12),
    (3, 13),
)
try:  # asyncio's private constants the lean turn shares: without them, asyncio's own turn
    from asyncio.base_events import (  # type: ignore[attr-defined]
        _MIN_CANCELLED_TIMER_HANDLES_FRACTION,
        _MIN_SCHEDULED_TIMER_HANDLES,
        MAXIMUM_SELECT_TIMEOUT,
        _format_handle,
    )
except ImportError:  # pragma: no cover - a CPython that moved them
    _LEAN = False

#: How this version's ``_run_once`` clamps the select timeout: with ``min``/``max`` (3.11, 3.12)
#: or with comparisons (3.13). The same value for every deadline but a NaN one.
_CLAMP_BY_MIN_MAX = sys.version_info < (3, 13)

_Handle = asyncio.Handle
_TimerHandle = asyncio.TimerHandle
_new = object.__new__
_copy_context = contextvars.copy_context
_heappush = heapq.heappush
_heappop = heapq.heappop
_real_select = selectors.DefaultSelector.select
_NAN = float("nan")


def _quiet_handle(
    cls: type[Any], loop: Any, callback: Callable[..., object], args: Any, context: Any
) -> Any:
    """A new ``cls`` (asyncio's Handle or TimerHandle, ``_when`` left to set) as its
    ``__init__`` makes it outside debug mode, without that ``__init__``'s ``get_debug()`` call."""
    handle = _new(cls)
    handle._context = _copy_context() if context is None else context
    handle._loop = loop
    handle._callback = callback
    handle._args = args
    handle._cancelled = False
    handle._repr = None
    handle._source_traceback = None
    return handle


class _AsyncioVirtualEventLoop(asyncio.SelectorEventLoop):
    """asyncio's selector loop with a clock that starts at 0 and jumps when the loop is idle:
    asyncio's own turns and timers, the jump in :class:`_VirtualSelector`. What runs on
    Python versions the lean loop was not verified against, and the tests' reference."""

    def __init__(self) -> None:
        self._virtual_now = 0.0
        super().__init__(_VirtualSelector(self))
        # Timers fire when due within this resolution; jumps land exactly on them anyway.
        self._clock_resolution = 1e-9

    def time(self) -> float:
        return self._virtual_now

    def advance(self, seconds: float) -> None:
        self._virtual_now += seconds


class _VirtualEventLoop(_AsyncioVirtualEventLoop):
    """The virtual loop :func:`run_virtual` runs.

    On the verified versions (``_LEAN``) a turn of the loop, timers and callbacks are
    asyncio's, specialised for virtual time: no real I/O but the loop's self-pipe, so no
    ``select`` call on a turn that has callbacks ready, nor on an idle one unless something
    may have written to the pipe; the clock read as an attribute; no debug checks unless debug
    mode is on. Everything runs in exactly asyncio's order, including
    timers due at the same instant (see ``_timers``); the tests compare it with
    :class:`_AsyncioVirtualEventLoop` turn by turn.
    """

    def __init__(self) -> None:
        # asyncio's timer heap (``_scheduled``, a heap of TimerHandles ordered by ``_when`` with
        # ``TimerHandle.__lt__``, a Python call per comparison), as a heap of
        # ``(when, nan, handle)``, compared in C. Two entries compare exactly as their handles
        # would: different deadlines by the deadline; equal deadlines reach the second items,
        # two distinct NaN objects, which are neither equal nor less, so neither entry is less,
        # as ``TimerHandle.__lt__`` answers for equal deadlines (and the handles are never
        # compared). heapq's moves depend only on the answers of its comparisons, so the heap
        # has asyncio's layout after every push, pop and heapify, and pops timers of equal
        # deadlines in asyncio's order (which is not their scheduling order).
        self._timers: list[tuple[float, float, asyncio.TimerHandle]] = []
        # Whether the self-pipe may hold bytes that no poll has seen (see ``_run_once``).
        self._self_pipe_written = True
        super().__init__()

    if _LEAN:

        @property
        def _scheduled(self) -> list[asyncio.TimerHandle]:
            """asyncio's view of the timers: the handles, in the heap's order (a copy)."""
            return [entry[2] for entry in self._timers]

        @_scheduled.setter
        def _scheduled(self, handles: list[asyncio.TimerHandle]) -> None:
            # BaseEventLoop.__init__ assigns an empty list.
            timers = [(handle._when, -_NAN, handle) for handle in handles]
            heapq.heapify(timers)
            self._timers = timers

        #: Unix loops have their own; the others have no signal handlers.
        _signal_handlers: Any = ()

        def _write_to_self(self) -> None:
            # call_soon_threadsafe (from any thread) and asyncio's signal handling write here.
            # Flagged before the write: a poll that resets the flag and misses the byte is
            # one that asyncio's own poll, at the same instant, would have missed too.
            self._self_pipe_written = True
            super()._write_to_self()

        def close(self) -> None:
            super().close()
            if self._closed:
                self._timers.clear()  # what asyncio's close does to its ``_scheduled``

        def call_soon(
            self, callback: Callable[..., object], *args: Any, context: Any = None
        ) -> asyncio.Handle:
            if self._closed:
                raise RuntimeError("Event loop is closed")
            if self._debug:
                return super().call_soon(callback, *args, context=context)
            handle = _quiet_handle(_Handle, self, callback, args, context)
            self._ready.append(handle)
            return handle

        def call_later(
            self, delay: float, callback: Callable[..., object], *args: Any, context: Any = None
        ) -> asyncio.TimerHandle:
            if delay is None:
                raise TypeError("delay must not be None")
            if self._debug:
                return super().call_later(delay, callback, *args, context=context)
            return self.call_at(self._virtual_now + delay, callback, *args, context=context)

        def call_at(
            self, when: float, callback: Callable[..., object], *args: Any, context: Any = None
        ) -> asyncio.TimerHandle:
            if when is None:
                raise TypeError("when cannot be None")
            if self._closed:
                raise RuntimeError("Event loop is closed")
            if self._debug:
                self._check_thread()
                self._check_callback(callback, "call_at")
                timer = _TimerHandle(when, callback, args, self, context)
                if timer._source_traceback:
                    del timer._source_traceback[-1]
            else:
                timer = _quiet_handle(_TimerHandle, self, callback, args, context)
                timer._when = when
            # A NaN object of its own (negation makes a new float): see ``_timers``.
            _heappush(self._timers, (when, -_NAN, timer))
            timer._scheduled = True
            return timer

        def _run_once(self) -> None:
            """asyncio's ``BaseEventLoop._run_once`` in virtual time: the same steps in the
            same order, with the selector's jump inline and ``select`` called only when a
            descriptor may be ready (nothing but the self-pipe is registered in a virtual
            run)."""
            timers = self._timers
            count = len(timers)
            if (
                count > _MIN_SCHEDULED_TIMER_HANDLES
                and self._timer_cancelled_count / count > _MIN_CANCELLED_TIMER_HANDLES_FRACTION
            ):
                # Remove delayed calls that were cancelled if their number is too high.
                kept = []
                for entry in timers:
                    if entry[2]._cancelled:
                        entry[2]._scheduled = False
                    else:
                        kept.append(entry)
                heapq.heapify(kept)
                self._timers = timers = kept
                self._timer_cancelled_count = 0
            else:
                # Remove delayed calls that were cancelled from head of queue.
                while timers and timers[0][2]._cancelled:
                    self._timer_cancelled_count -= 1
                    _heappop(timers)[2]._scheduled = False

            ready = self._ready
            if ready or self._stopping:
                timeout: float | None = 0
            elif timers:
                # The timeout asyncio gives the selector, clamped as this version clamps it.
                timeout = timers[0][0] - self._virtual_now
                if _CLAMP_BY_MIN_MAX:
                    # 3.11 and 3.12 clamp with min and max: a NaN deadline gives 0 (it fires now)
                    timeout = min(max(0, timeout), MAXIMUM_SELECT_TIMEOUT)
                elif timeout > MAXIMUM_SELECT_TIMEOUT:
                    timeout = MAXIMUM_SELECT_TIMEOUT
                elif timeout < 0:
                    timeout = 0
            else:
                timeout = None
            # What _VirtualSelector.select(timeout) does, inline, without its poll of the
            # self-pipe (an epoll call) on idle turns when nothing can have made it readable:
            # no write to it since the last poll, no signal handler (whose C handler writes to
            # it) and no other descriptor registered. The poll would find nothing to read.
            selector = self._selector
            event_list = None
            if len(selector._fd_to_key) > 1 or (
                timeout != 0 and (self._self_pipe_written or self._signal_handlers)
            ):
                self._self_pipe_written = False
                event_list = _real_select(selector, 0)
            if event_list:
                self._process_events(event_list)
            elif timeout is None:
                raise _deadlock()
            elif timeout:
                self._virtual_now += timeout
            event_list = None

            # Handle 'later' callbacks that are ready.
            end_time = self._virtual_now + self._clock_resolution
            while timers:
                if timers[0][0] >= end_time:
                    break
                handle = _heappop(timers)[2]
                handle._scheduled = False
                ready.append(handle)

            # Run the callbacks ready now, not those they schedule.
            ntodo = len(ready)
            if self._debug:
                self._run_ready_debug(ntodo)
                return
            popleft = ready.popleft
            for _ in range(ntodo):
                handle = popleft()
                if handle._cancelled:
                    continue
                handle._run()
            handle = None  # Needed to break cycles when an exception occurs.

        def _run_ready_debug(self, ntodo: int) -> None:
            # asyncio's debug-mode run of the ready callbacks (in virtual time no callback takes
            # time, so the slow-callback warning never fires; kept for fidelity).
            for _ in range(ntodo):
                handle = self._ready.popleft()
                if handle._cancelled:
                    continue
                try:
                    self._current_handle = handle
                    t0 = self.time()
                    handle._run()
                    dt = self.time() - t0
                    if dt >= self.slow_callback_duration:
                        asyncio.log.logger.warning(
                            "Executing %s took %.3f seconds", _format_handle(handle), dt
                        )
                finally:
                    self._current_handle = None
            handle = None


def loop_time() -> float:
    """The running event loop's clock: exactly ``anyio.current_time()``, read without anyio's
    per-call backend detection (sniffio), which is most of that call's cost.

    On asyncio it is the running loop's ``time()``, on trio ``trio.current_time()``: what
    anyio's two backends return. The running loop is looked up on every call (a C lookup on
    asyncio), so a new loop or a switch of library between runs is always seen. With no loop
    running, or anything else running, it defers to anyio, which raises as before.
    """
    # What sniffio reads first: trio names itself there (also as a guest on an asyncio loop,
    # whose running loop is then not trio's clock).
    named = sniffio.thread_local.name or sniffio.current_async_library_cvar.get()
    if named is None or named == "asyncio":
        loop = _get_running_loop()
        if loop is not None:
            return loop.time()
    elif named == "trio":
        trio = sys.modules.get("trio")
        if trio is not None:
            try:
                return trio.current_time()  # type: ignore[no-any-return]
            except RuntimeError:
                pass
    return anyio.current_time()


def _trio_options(seed: int) -> dict[str, Any]:
    import trio
    import trio.testing

    # trio shuffles each batch of runnable tasks; seeding its private RNG alone is not enough,
    # the deterministic-scheduling switch must be on too (this is what pytest-trio does).
    run_module = getattr(getattr(trio, "_core", None), "_run", None)
    if run_module is not None and hasattr(run_module, "_ALLOW_DETERMINISTIC_SCHEDULING"):
        run_module._ALLOW_DETERMINISTIC_SCHEDULING = True
        run_module._r.seed(seed)
    clock_class = _virtual_trio_clock_class(run_module)
    if clock_class is None:
        return {"clock": trio.testing.MockClock(autojump_threshold=0)}
    return {"clock": clock_class()}


@functools.cache
def _virtual_trio_clock_class(run_module: Any) -> Any:
    """The class of :class:`_VirtualTrioClock`, made once trio is imported; ``None`` if this
    trio's run loop lacks what it reads (then ``MockClock(autojump_threshold=0)`` runs)."""
    try:
        import trio

        # Runner and EntryQueue are attrs classes: their fields, without importing attrs.
        runner_fields = {field.name for field in run_module.Runner.__attrs_attrs__}
        entry_fields = {field.name for field in run_module.EntryQueue.__attrs_attrs__}
        run_context = run_module.GLOBAL_RUN_CONTEXT
    except Exception:  # any change of trio's internals: use its MockClock
        return None
    if not (
        {"waiting_for_idle", "entry_queue"} <= runner_fields
        and {"queue", "idempotent_queue"} <= entry_fields
    ):
        return None

    class _VirtualTrioClock(trio.abc.Clock):
        """``MockClock(autojump_threshold=0)``'s time, jumped one turn of trio's loop sooner.

        With ``MockClock`` an idle run loop takes two turns per jump: the first polls I/O with
        a zero timeout, finds nothing and calls ``clock._autojump()`` (which gathers
        ``current_statistics()`` for the next deadline); the second finds the deadline due and
        wakes its tasks. trio asks this clock how long to sleep only when no task is runnable,
        and it jumps there and then, by the same additions (``now += deadline - now`` until the
        deadline is reached), and answers 0: the deadline's tasks wake in the first turn. The
        turn it saves runs no task and draws nothing from trio's scheduling RNG (a batch of
        none), so tasks run in the same order at the same times.

        It does not jump where MockClock would not have, in the first turn, either: while a
        task waits in ``wait_all_tasks_blocked`` (trio wakes it first) or callbacks wait in the
        run's entry queue (``run_sync_soon``, e.g. async generators' finalisers: their wake-up
        is I/O, which trio processes first). With nothing scheduled at all, trio waits for I/O
        (MockClock spins): the run hangs either way (see :func:`run_virtual`). The time is read
        as an attribute, not through ``perf_counter`` and a rate of 0.
        """

        __slots__ = ("_entry", "_now", "_waiting")

        def __init__(self) -> None:
            self._now = 0.0

        def __repr__(self) -> str:
            return f"<virtual trio clock, time={self._now:.7f}>"

        def start_clock(self) -> None:
            runner = run_context.runner  # trio calls this inside the run
            self._waiting = runner.waiting_for_idle
            self._entry = runner.entry_queue

        def current_time(self) -> float:
            return self._now

        def deadline_to_sleep_time(self, deadline: float) -> float:
            now = self._now
            if deadline - now <= 0:
                return 0
            entry = self._entry
            if deadline == math.inf or self._waiting or entry.queue or entry.idempotent_queue:
                return 999999999  # MockClock's answer with a rate of 0
            while True:  # MockClock's autojumps, one turn each
                now += deadline - now
                if deadline - now <= 0:
                    break
            self._now = now
            return 0

    return _VirtualTrioClock


def run_virtual(
    fn: Callable[..., Awaitable[T]],
    *args: Any,
    backend: Backend = "asyncio",
    seed: int = 0,
) -> T:
    """Run ``fn(*args)`` to completion on ``backend`` in virtual time and return its result.

    The event loop's clock starts at 0. Pair it with :class:`engine.clock.VirtualClock` for wall
    time. Raises :class:`VirtualTimeDeadlock` on asyncio (trio: hangs, so wrap the body in
    ``anyio.fail_after``) when every task waits and nothing is scheduled.
    """
    return anyio.run(fn, *args, backend=backend, backend_options=backend_options(backend, seed))


def backend_options(backend: Backend, seed: int = 0) -> dict[str, Any]:
    """The ``backend_options`` for :func:`anyio.run` (or anyio's pytest plugin) that make a run
    virtual and deterministic. Call it once per run: it makes a fresh clock and reseeds trio."""
    if backend == "asyncio":
        return {"loop_factory": _VirtualEventLoop}
    if backend == "trio":
        return _trio_options(seed)
    raise ValueError(f"backend must be 'asyncio' or 'trio', not {backend!r}")
