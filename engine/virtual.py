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
    """A selector that never blocks: when idle it advances the loop's virtual clock instead."""

    def __init__(self, loop: _VirtualEventLoop) -> None:
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
            raise VirtualTimeDeadlock(
                "every task is waiting and no timer is scheduled; wrap the run in "
                "anyio.fail_after(...) to turn a deadlock into a timeout"
            )
        self._loop.advance(timeout)
        return ready


class _VirtualEventLoop(asyncio.SelectorEventLoop):
    """asyncio's selector loop with a clock that starts at 0 and jumps when the loop is idle."""

    def __init__(self) -> None:
        self._virtual_now = 0.0
        super().__init__(_VirtualSelector(self))
        # Timers fire when due within this resolution; jumps land exactly on them anyway.
        self._clock_resolution = 1e-9

    def time(self) -> float:
        return self._virtual_now

    def advance(self, seconds: float) -> None:
        self._virtual_now += seconds


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
    return {"clock": trio.testing.MockClock(autojump_threshold=0)}


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
