"""Micro-batching: per-key lookups from concurrent callers merged into as few requests as fit.

An upstream that takes up to ``max_batch`` keys a request (IDs) serves many callers with one
request if their keys travel together. The moment that matters is the *grant*: a request that
waits in the rate limiter's line (seconds, under load) costs nothing extra if it keeps
absorbing keys until it is granted, and is sealed only then. With an idle limiter the grant
would come at once, so a new request first lingers a short while (``linger``, a few
milliseconds) for others to join, or less if its batch fills.

:class:`BatchPlanner` makes the decisions and takes the time as an argument (sans-I/O);
:class:`Coalescer` runs them with anyio.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Awaitable, Callable, Hashable, Iterable, Mapping
from types import TracebackType
from typing import Any, Generic, Self, TypeVar

import anyio

from engine.errors import EngineError
from engine.exception_groups import OwnedTaskGroup
from engine.virtual import loop_time

__all__ = ["BatchPlanner", "Coalescer", "CoalescerClosed"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class CoalescerClosed(EngineError, RuntimeError):
    """The :class:`Coalescer` closed while this caller waited for a key's request."""


class BatchPlanner(Generic[K]):
    """Which keys travel in which request. No I/O and no clock: callers pass the time.

    A key is *queued* from :meth:`add` until a request takes it (:meth:`take`, called when the
    request is granted), then *in flight* until :meth:`finish`. A request is *open* from
    :meth:`open` until it takes its keys.

    Guarantees:

    - No key is lost or sent twice: a key added while queued or in flight is not queued again
      (:meth:`add` says so), and each queued key is taken by exactly one request.
    - No request takes more than ``max_batch`` keys, and none takes zero: there are always
      exactly ``ceil(queued / max_batch)`` open requests once the caller has opened the ones
      :meth:`wanted` asks for, so a granted request always has keys to send and no queued key
      is left without a request that will take it.
    - Keys are taken in the order they were added, and keys added at the same instant in the
      order of the keys themselves, so the batches do not depend on which of several
      simultaneous callers an event loop ran first.
    """

    __slots__ = ("_in_flight", "_queue", "_queued", "_serial", "max_batch", "open_requests")

    def __init__(self, max_batch: int) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, not {max_batch}")
        self.max_batch = max_batch
        self._queue: list[tuple[float, Any, int, K]] = []
        self._queued: set[K] = set()
        self._in_flight: set[K] = set()
        self._serial = 0  # breaks ties between keys that do not order (mixed types)
        self.open_requests = 0

    def add(self, key: K, now: float) -> bool:
        """Queue ``key`` at ``now`` unless it is queued or in flight; whether it was queued."""
        if key in self._queued or key in self._in_flight:
            return False
        self._serial += 1
        heapq.heappush(self._queue, (now, _order(key), self._serial, key))
        self._queued.add(key)
        return True

    def wanted(self) -> int:
        """Requests to open now so that every queued key has one (see the guarantees)."""
        return max(0, math.ceil(len(self._queue) / self.max_batch) - self.open_requests)

    def open(self) -> None:
        """The caller opened a request (it will call :meth:`take` when it is granted)."""
        self.open_requests += 1

    def full(self) -> bool:
        """Whether the open requests have all the keys they can carry (lingering is over)."""
        return len(self._queue) >= self.max_batch * self.open_requests

    def take(self) -> list[K]:
        """A request was granted: the keys it carries, at most ``max_batch``, the earliest."""
        if self.open_requests < 1:
            raise RuntimeError("take() without an open request")
        self.open_requests -= 1
        taken: list[K] = []
        while self._queue and len(taken) < self.max_batch:
            key = heapq.heappop(self._queue)[-1]
            self._queued.discard(key)
            self._in_flight.add(key)
            taken.append(key)
        return taken

    def finish(self, keys: Iterable[K]) -> None:
        """The request that carried ``keys`` ended (answered or failed): they may be re-added."""
        self._in_flight.difference_update(keys)

    @property
    def queued(self) -> int:
        return len(self._queue)

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    def __repr__(self) -> str:
        return (
            f"<BatchPlanner [max {self.max_batch} | queued: {self.queued} | "
            f"open requests: {self.open_requests} | in flight: {self.in_flight}]>"
        )


def _order(key: object) -> tuple[int, Any]:
    # Strings (IDs) order by value; anything else by its repr, which is deterministic for the
    # plain values used as keys. The serial after it keeps the heap from comparing keys.
    return (0, key) if isinstance(key, str) else (1, repr(key))


class _Key(Generic[V]):
    """One key's outcome, awaited by every caller that asked for it."""

    __slots__ = ("done", "error", "found", "value")

    def __init__(self) -> None:
        self.done = anyio.Event()
        self.found = False
        self.value: V | None = None
        self.error: BaseException | None = None


#: ``through(name, attempt)``: runs ``attempt`` as one upstream request (the engine's
#: :meth:`~engine.Engine.upstream`: rate limit, bulkhead, deadline, retries).
Through = Callable[[str, Callable[[], Awaitable[Any]]], Awaitable[Any]]


class Coalescer(Generic[K, V]):
    """Per-key lookups merged across callers into requests of at most ``max_batch`` keys.

    ``request(keys)`` is one upstream request (no limits of its own: it runs inside
    ``through``, which grants it); its answer maps each key it found to a value, and keys it
    omits are absent from :meth:`get_many`'s result. ``answered(keys, answer)``, if given, runs
    after the request and before any caller is told (to fill a cache, outside the limits).

    Guarantees:

    - Each key is in at most one request at a time, whichever callers want it, and a request
      takes its keys when it is granted (see :class:`BatchPlanner`): a request waiting for the
      rate limiter keeps absorbing keys until it is granted or full.
    - A new request lingers at most ``linger`` seconds (less when its batch fills) before it
      asks for its grant.
    - Requests run in this coalescer's task group: cancelling a caller never cancels a request
      other callers wait for, and nothing outlives ``async with``. An error (after the retries
      ``through`` makes) reaches every caller waiting for a key of that request, and is never
      remembered: the next caller's key is requested again.
    """

    def __init__(
        self,
        name: str,
        request: Callable[[list[K]], Awaitable[Mapping[K, V]]],
        *,
        through: Through,
        max_batch: int,
        linger: float,
        answered: Callable[[list[K], Mapping[K, V]], Awaitable[None]] | None = None,
    ) -> None:
        if linger < 0:
            raise ValueError(f"linger must be >= 0, not {linger}")
        self.name = name
        self.linger = linger
        self.planner = BatchPlanner[K](max_batch)
        self._request = request
        self._answered = answered
        self._through = through
        self._keys: dict[K, _Key[V]] = {}
        self._filled = anyio.Event()
        self._tasks = OwnedTaskGroup(f"coalescer {name!r}")
        self._serial = 0
        self.requests = 0
        """Requests sent (granted), retries not counted."""
        self.keys_sent = 0
        """Keys those requests carried."""
        self.joined = 0
        """Keys a caller asked for that were already queued or in flight for another."""

    async def __aenter__(self) -> Self:
        await self._tasks.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        try:
            return await self._tasks.close(exc_type, exc, tb)
        finally:
            closed = CoalescerClosed(f"coalescer {self.name!r} closed while a key was wanted")
            for slot in self._keys.values():
                if not slot.done.is_set():
                    slot.error = closed
                    slot.done.set()
            self._keys.clear()

    async def get_many(self, keys: Iterable[K]) -> dict[K, V]:
        """Values for ``keys`` (those the upstream answered), each requested at most once."""
        if not self._tasks.is_open:
            raise CoalescerClosed(f"coalescer {self.name!r} is not open: use it in `async with`")
        now = loop_time()
        wanted: dict[K, _Key[V]] = {}
        for key in keys:
            if key in wanted:
                continue
            slot = self._keys.get(key)
            if slot is None:
                slot = self._keys[key] = _Key()
                self.planner.add(key, now)
            else:
                self.joined += 1
            wanted[key] = slot
        for _ in range(self.planner.wanted()):
            self.planner.open()
            self._serial += 1
            self._tasks.start_soon(self._send, f"{self.name}#{self._serial:09d}")
        self._note_filled()
        result: dict[K, V] = {}
        for key, slot in wanted.items():
            await slot.done.wait()
            if slot.error is not None:
                raise slot.error
            if slot.found:
                result[key] = slot.value  # type: ignore[assignment]
        return result

    async def _send(self, name: str) -> None:
        if self.linger and not self.planner.full():
            with anyio.move_on_after(self.linger):
                await self._filled.wait()
        taken: list[K] | None = None

        async def attempt() -> Mapping[K, V]:
            nonlocal taken
            if taken is None:  # granted: seal the batch (a retry resends the same keys)
                taken = self._take()
                self.requests += 1
                self.keys_sent += len(taken)
            return await self._request(list(taken))

        answer: Mapping[K, V] = {}
        error: BaseException | None = None
        try:
            answer = await self._through(name, attempt)
            if self._answered is not None:
                await self._answered(list(taken or ()), answer)
        except Exception as exc:
            error = exc
        except BaseException:
            error = CoalescerClosed(f"coalescer {self.name!r} closed while a key was wanted")
            raise
        finally:
            if taken is None:
                # Failed (or closed) before its grant: the keys it would have carried get the
                # error, so that none is left queued without a request.
                taken = self._take()
            self.planner.finish(taken)
            for key in taken:
                slot = self._keys.pop(key, None)
                if slot is None:
                    continue
                if error is not None:
                    slot.error = error
                elif key in answer:
                    slot.found, slot.value = True, answer[key]
                slot.done.set()

    def _take(self) -> list[K]:
        taken = self.planner.take()
        self._note_filled()
        return taken

    def _note_filled(self) -> None:
        # Lingering requests wait on ``_filled``: set while the open requests are full, a fresh
        # one as soon as they are not (a set Event cannot be cleared).
        if self.planner.full():
            self._filled.set()
        elif self._filled.is_set():
            self._filled = anyio.Event()

    def __repr__(self) -> str:
        return (
            f"<Coalescer {self.name!r} [max {self.planner.max_batch}, linger {self.linger:g} s | "
            f"queued: {self.planner.queued} | open requests: {self.planner.open_requests} | "
            f"in flight: {self.planner.in_flight} | sent: {self.requests} requests, "
            f"{self.keys_sent} keys]>"
        )
