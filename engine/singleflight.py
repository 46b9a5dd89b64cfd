"""Request deduplication: concurrent calls with the same key share one execution.

Guarantees of :class:`SingleFlight`:

- Concurrent ``do(key, fn)`` calls with equal keys run ``fn`` once; every caller gets its result,
  or its exception (the upstream saw one call, not one per waiter).
- The execution runs in a task group owned by the ``SingleFlight`` (an async context manager),
  not by the caller that started it: cancelling that caller does not cancel the work while
  others still wait for it. When every waiter has gone, the execution is cancelled.
- No lock is held across an await: waiting on key A never delays a call for key B.
- Nothing outlives the flight: once it ends, its entry is gone and the next call for the key
  starts a new execution. Caching results is the cache's job, not this one's.
- No task outlives the ``SingleFlight``: leaving its ``async with`` block cancels the executions
  still running, and their waiters get :class:`SingleFlightClosed`.
- An execution runs in a copy of the context of the call that started it (its context
  variables, as a task spawned by that call would: :data:`REFRESHING`, the fetch priority),
  whichever task of the ``SingleFlight`` runs it.

Executions run on reusable worker tasks of that task group (:class:`engine.workers.WorkerPool`:
an anyio task costs about 25 µs to spawn on asyncio, handing an execution to an idle worker a
few), each in its own cancel scope.

Two seams let a flight do more than deduplicate in this process (the shared tier's
:class:`~engine.shared.DistributedFlight` does): the cache runs a missed key's fetch under a
:class:`CacheFlightKey`, which such a flight may coordinate across instances (plain
``SingleFlight`` treats it as any key), and :meth:`SingleFlight.key_claims` hands batched
lookups the per-key claims of the instances sharing the flight's backend (``None`` here: a
local flight has nobody to share with).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable
from contextvars import ContextVar, copy_context
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, Self, TypeVar

import anyio
import anyio.abc
import msgspec

from engine.errors import EngineError
from engine.exception_groups import OwnedTaskGroup
from engine.workers import WorkerPool

if TYPE_CHECKING:
    from engine.shared.claims import KeyClaims

__all__ = [
    "REFRESHING",
    "CacheFlightKey",
    "SingleFlight",
    "SingleFlightClosed",
    "SingleFlightStats",
]

T = TypeVar("T")


class SingleFlightClosed(EngineError, RuntimeError):
    """The :class:`SingleFlight` closed while this call was waiting for its execution."""


#: Inside a background refresh ahead of an expiry: the ``expires_at`` of the entry it replaces
#: (``None`` on a miss). A flight that coordinates instances (``DistributedFlight``) then takes
#: only a newer entry as its answer: the entry being replaced is still fresh in the shared
#: store, and answering the refresh with it would refresh nothing. The cache sets it around the
#: refresh's flight, whose task copies it.
REFRESHING: ContextVar[float | None] = ContextVar("engine_refreshing", default=None)


class CacheFlightKey(msgspec.Struct, frozen=True):
    """The flight key of a cache miss: :class:`engine.cache.Cache` fetches a missed ``key`` (the
    full cache key, ``v1:<namespace>:<key>``) under it. Equal only to another
    ``CacheFlightKey`` of the same ``key``, never to a plain tuple or string."""

    key: str


class SingleFlightStats(msgspec.Struct, frozen=True):
    calls: int
    """Calls to :meth:`SingleFlight.do`."""
    executions: int
    """Executions started; ``calls - executions`` is the number of calls saved."""
    shared: int
    """Calls that joined an execution another call had started."""
    abandoned: int
    """Executions cancelled because every waiter had gone."""
    in_flight: int
    """Executions running now."""


class _Flight(Generic[T]):
    __slots__ = ("done", "error", "scope", "value", "waiters")

    def __init__(self) -> None:
        self.done = anyio.Event()
        self.scope = anyio.CancelScope()
        self.waiters = 0
        self.value: T | None = None
        self.error: BaseException | None = None


class SingleFlight:
    """Deduplicates concurrent calls by key; see the module docstring for the guarantees."""

    def __init__(self) -> None:
        self._flights: dict[Hashable, _Flight[Any]] = {}
        self._tasks = OwnedTaskGroup("this SingleFlight")
        self._calls = 0
        self._executions = 0
        self._abandoned = 0
        self._workers = WorkerPool(self._tasks.start_soon)

    async def __aenter__(self) -> Self:
        await self._tasks.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        return await self._tasks.close(exc_type, exc, tb)

    async def do(self, key: Hashable, fn: Callable[[], Awaitable[T]]) -> T:
        """Return ``await fn()``, sharing one execution with concurrent calls for ``key``.

        ``fn`` must be interchangeable between callers with equal keys: only the first caller's
        ``fn`` runs. Exceptions from ``fn`` reach every waiter. Cancelling this call never
        cancels the execution while other calls still wait for it.
        """
        self._calls += 1
        flight: _Flight[T] | None = self._flights.get(key)
        if flight is None:
            if not self._tasks.is_open:
                raise SingleFlightClosed("SingleFlight is not open: use it in `async with`")
            flight = _Flight()
            self._flights[key] = flight
            self._executions += 1
            # On a reusable worker (engine.workers), in a copy of this call's context, as a
            # task spawned here would run.
            self._workers.start(self._execute, key, flight, fn, context=copy_context())
        flight.waiters += 1
        try:
            await flight.done.wait()
        finally:
            flight.waiters -= 1
            if flight.waiters == 0 and not flight.done.is_set():
                # The last waiter left (cancelled): nobody wants the result any more.
                self._abandoned += 1
                flight.scope.cancel()
                self._forget(key, flight)
        if flight.error is not None:
            raise flight.error
        return flight.value  # type: ignore[return-value]

    async def _execute(
        self, key: Hashable, flight: _Flight[T], fn: Callable[[], Awaitable[T]]
    ) -> None:
        # Its own cancel scope: cancelling an abandoned execution ends it, not its worker.
        try:
            with flight.scope:
                flight.value = await fn()
        except Exception as exc:
            flight.error = exc
        except BaseException:
            # Cancelled from outside: the SingleFlight is closing.
            flight.error = SingleFlightClosed("SingleFlight closed while the call was in flight")
            raise
        finally:
            self._forget(key, flight)
            flight.done.set()

    def _forget(self, key: Hashable, flight: _Flight[Any]) -> None:
        if self._flights.get(key) is flight:
            del self._flights[key]

    def key_claims(self, name: str) -> KeyClaims | None:
        """The claims through which instances sharing this flight's backend split the batched
        lookups named ``name`` (:class:`~engine.shared.KeyClaims`), or ``None`` when there are
        no other instances to split them with: always ``None`` for a local ``SingleFlight``."""
        return None

    def running(self, key: Hashable) -> bool:
        """Whether an execution for ``key`` is in flight now."""
        return key in self._flights

    def in_flight(self) -> int:
        """Executions running now (0 once every call has returned: nothing leaks)."""
        return len(self._flights)

    def __repr__(self) -> str:
        state = "open" if self._tasks.is_open else "closed"
        return (
            f"<SingleFlight [{state} | in flight: {len(self._flights)} | "
            f"calls: {self._calls}, executions: {self._executions}, "
            f"abandoned: {self._abandoned}]>"
        )

    def stats(self) -> SingleFlightStats:
        return SingleFlightStats(
            calls=self._calls,
            executions=self._executions,
            shared=self._calls - self._executions,
            abandoned=self._abandoned,
            in_flight=len(self._flights),
        )
