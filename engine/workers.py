"""Reusable worker tasks: a job runs where a task spawned for it would, without the spawn.

Why: an anyio task costs about 25 µs to spawn and finish on asyncio (a handle with its own
cancel scope and event, a wrapper coroutine, a done callback; bench/bench_primitives.py), waking
a waiting task with an event a few. :class:`~engine.singleflight.SingleFlight` starts a task per
execution and a scenario replay one per arrival: both hand jobs to idle workers instead.

Order: a job handed to an idle worker starts where a task spawned at that moment would: setting
the worker's event puts it at the end of the event loop's ready queue right then (asyncio: one
``call_soon`` of the task's wake-up; trio: one ``reschedule``), as spawning does, and it then
runs the job to its first wait, as the new task would. A worker is spawned only when none is
idle, and goes idle again without a checkpoint. On asyncio (FIFO) the order of every step is
therefore the same as with a task per job; trio runs each batch of runnable tasks in a seeded
shuffle of their creation order, so within one batch a reused worker may run at another place
than a new task would (each step still runs in the same batch).

Guarantees of :class:`WorkerPool`:

- Every worker is a task of the owner's task group: none outlives it.
- A job that raises ends its worker and, as the group decides, the group, as its own task would.
- A job handed to a worker whose wait is being cancelled at that instant still runs (up to its
  first checkpoint, where the cancellation reaches it), as a task spawned into a cancelled scope
  would: no job is dropped.
- With ``context``, every step of the job runs in that context (:class:`InContext`): what a task
  spawned with it would see. Without, in the worker's own context. Workers start in a copy of
  the context the pool was made in, never a caller's: an idle worker keeps neither a job nor a
  caller's context variables alive.
- :meth:`WorkerPool.close` ends the idle workers; busy ones end after their job.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator
from contextvars import Context, copy_context
from typing import Any

import anyio

__all__ = ["InContext", "WorkerPool"]

_Job = tuple[Callable[..., Awaitable[Any]], tuple[Any, ...], Context | None]


class _Idle:
    """A worker waiting for its next job: ``wake`` is set once ``job`` is filled in, or with
    ``job`` left ``None`` to end the worker."""

    __slots__ = ("job", "wake")

    def __init__(self) -> None:
        self.wake = anyio.Event()
        self.job: _Job | None = None


class WorkerPool:
    """Runs jobs on reusable tasks started with ``start_soon`` (a task group's); see the module
    docstring for the order and the guarantees."""

    __slots__ = ("_closed", "_home", "_idle", "_spawn")

    def __init__(self, start_soon: Callable[..., Any]) -> None:
        self._spawn = start_soon
        self._home = copy_context()
        self._idle: list[_Idle] = []
        self._closed = False

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<WorkerPool [{state} | idle: {len(self._idle)}]>"

    def start(
        self, fn: Callable[..., Awaitable[Any]], *args: Any, context: Context | None = None
    ) -> None:
        """Run ``await fn(*args)`` on an idle worker, or on a new one: in ``context`` if given,
        else in the worker's own context."""
        if self._idle:
            worker = self._idle.pop()
            worker.job = (fn, args, context)
            worker.wake.set()
        else:
            # Spawned from the pool's home context (a copy each time: never entered twice), so
            # the task does not copy, and keep alive, the context of the call that caused it.
            self._home.copy().run(self._spawn, self._work, (fn, args, context))

    def close(self) -> None:
        """End the idle workers (and each busy one once its job is done); no more jobs."""
        self._closed = True
        for worker in self._idle:
            worker.wake.set()
        self._idle.clear()

    async def _work(self, job: _Job) -> None:
        idle = self._idle
        while True:
            await _run(job)
            del job  # an idle worker keeps nothing of what it ran
            if self._closed:
                return
            worker = _Idle()
            idle.append(worker)
            try:
                await worker.wake.wait()
            except BaseException:
                if not worker.wake.is_set():
                    # Off the idle list: no job goes to a worker that has ended.
                    idle.remove(worker)
                elif worker.job is not None:
                    # Handed a job in the very turn it was cancelled: run it as a task spawned
                    # into a cancelled scope would (to its first checkpoint), never drop it.
                    await _run(worker.job)
                raise
            if worker.job is None:
                return  # closed
            job = worker.job


async def _run(job: _Job) -> None:
    fn, args, context = job
    if context is None:
        await fn(*args)
    else:
        await InContext(context, fn, *args)


class InContext:
    """``await InContext(context, fn, *args)`` is ``await fn(*args)`` with every step of it,
    the call of ``fn`` included, run in ``context``: what a task spawned with that context would
    run.

    A task's context is fixed when it is created, so a reused worker cannot switch to a job's;
    it drives the awaitable itself instead, one ``context.run`` per step, passing what it yields
    to the event loop and what the loop sends or throws (a wake-up, a cancellation) back into
    it, unchanged. Context variables that ``fn`` sets stay in ``context``; tasks that ``fn``
    spawns copy it."""

    __slots__ = ("_args", "_context", "_fn")

    def __init__(self, context: Context, fn: Callable[..., Awaitable[Any]], *args: Any) -> None:
        self._context = context
        self._fn = fn
        self._args = args

    def __await__(self) -> Generator[Any, Any, Any]:
        run = self._context.run
        steps = run(_await_of, self._fn, self._args)
        step: Callable[[Any], Any] = steps.send
        value: Any = None
        while True:
            try:
                yielded = run(step, value)
            except StopIteration as done:
                return done.value
            try:
                value = yield yielded
            except GeneratorExit:
                run(steps.close)
                raise
            except BaseException as exc:
                step, value = steps.throw, exc
            else:
                step = steps.send


def _await_of(fn: Callable[..., Awaitable[Any]], args: tuple[Any, ...]) -> Generator[Any, Any, Any]:
    return fn(*args).__await__()  # type: ignore[attr-defined,no-any-return]
