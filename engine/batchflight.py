"""Batched lookups with per-key deduplication: the ID-conversion pattern.

Many callers ask for overlapping sets of keys (track IDs); the upstream takes up to N keys per
request. :class:`BatchFlight` sends each key at most once while it is in flight: a caller joins
the in-flight chunk that already holds a key it wants, and sends only the remaining keys, in
chunks of ``max_batch``, at most ``concurrency`` chunks at once.

Each chunk is a :class:`~engine.singleflight.SingleFlight` execution keyed by the chunk, so it
inherits those guarantees: it runs in the engine's task group, a cancelled caller does not
cancel a chunk others wait for, and an error reaches every caller that needed the chunk. A
caller that joined a chunk reads its outcome even when the chunk finished before the caller got
round to waiting for it; a chunk abandoned by every caller is sent again by the next one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable, Iterable, Mapping
from typing import Generic, TypeVar

from engine.batching import chunked, map_bounded
from engine.clock import Clock
from engine.limits.rate import turnstile
from engine.singleflight import SingleFlight

__all__ = ["BatchFlight"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class _Chunk(Generic[K, V]):
    """One request's keys, and its outcome once it has one."""

    __slots__ = ("error", "flight_key", "keys", "result")

    def __init__(self, name: str, keys: list[K]) -> None:
        self.keys = keys
        self.flight_key = ("batch", name, tuple(keys))
        self.result: Mapping[K, V] | None = None
        self.error: Exception | None = None


class BatchFlight(Generic[K, V]):
    """Fetches keys in deduplicated chunks through ``fetch_many(chunk) -> {key: value}``.

    Keys absent from ``fetch_many``'s answer are absent from the result (the caller decides
    what "absent" means, e.g. an ID the upstream does not know).
    """

    def __init__(
        self,
        name: str,
        fetch_many: Callable[[list[K]], Awaitable[Mapping[K, V]]],
        *,
        flights: SingleFlight,
        max_batch: int,
        concurrency: int,
        clock: Clock | None = None,
        settle: float = 0.0,
    ) -> None:
        if max_batch < 1 or concurrency < 1:
            raise ValueError("max_batch and concurrency must be at least 1")
        self.name = name
        self.max_batch = max_batch
        self.concurrency = concurrency
        self._fetch_many = fetch_many
        self._flights = flights
        self._in_flight: dict[K, _Chunk[K, V]] = {}
        # Callers at one instant form their chunks one at a time in the order of their keys
        # once ``settle`` has passed (replays), not in the event loop's order: the same chunks
        # on asyncio and on trio. With settle 0 the turn is granted at once, without a checkpoint.
        self._turns = turnstile(settle, clock)
        self.joined = 0
        """Keys a caller did not send because an in-flight chunk already held them."""

    async def get_many(self, keys: Iterable[K], *, concurrency: int | None = None) -> dict[K, V]:
        """Values for ``keys`` (those the upstream knows), sending each key at most once.

        ``concurrency`` overrides the default number of chunks in flight for this call.
        """
        wanted = list(dict.fromkeys(keys))
        if self._turns is not None:
            await self._turns.acquire(key=",".join(sorted(map(str, wanted))))
        chunks: dict[int, _Chunk[K, V]] = {}
        fresh: list[K] = []
        for key in wanted:
            chunk = self._in_flight.get(key)
            if chunk is None:
                fresh.append(key)
            else:
                self.joined += 1
                chunks[id(chunk)] = chunk
        mine = [_Chunk[K, V](self.name, keys_) for keys_ in chunked(fresh, self.max_batch)]
        for chunk in mine:
            chunks[id(chunk)] = chunk
            for key in chunk.keys:
                self._in_flight[key] = chunk
        try:
            answers = await map_bounded(
                self._outcome, list(chunks.values()), limit=concurrency or self.concurrency
            )
        finally:
            # A chunk that never started (its caller was cancelled first) must not stay listed;
            # one still running for other callers stays joinable until it ends.
            for chunk in mine:
                if not self._flights.running(chunk.flight_key):
                    self._release(chunk)
        merged: dict[K, V] = {}
        for answer in answers:
            merged.update(answer)
        return {key: merged[key] for key in wanted if key in merged}

    async def _outcome(self, chunk: _Chunk[K, V]) -> Mapping[K, V]:
        if chunk.error is not None:
            raise chunk.error
        if chunk.result is not None:
            return chunk.result
        return await self._flights.do(chunk.flight_key, lambda: self._fetch(chunk))

    async def _fetch(self, chunk: _Chunk[K, V]) -> Mapping[K, V]:
        try:
            chunk.result = await self._fetch_many(list(chunk.keys))
            return chunk.result
        except Exception as exc:
            chunk.error = exc
            raise
        finally:
            self._release(chunk)

    def _release(self, chunk: _Chunk[K, V]) -> None:
        for key in chunk.keys:
            if self._in_flight.get(key) is chunk:
                del self._in_flight[key]

    def __repr__(self) -> str:
        chunks = len({id(chunk) for chunk in self._in_flight.values()})
        return (
            f"<BatchFlight {self.name!r} [keys in flight: {len(self._in_flight)} "
            f"in {chunks} chunk{'' if chunks == 1 else 's'} | joined: {self.joined} | "
            f"chunks of {self.max_batch}, {self.concurrency} at once]>"
        )

    def in_flight(self) -> int:
        """Keys held by in-flight chunks (0 once every call has returned)."""
        return len(self._in_flight)
