"""Batched lookups with per-key deduplication: the ID-conversion pattern.

Many callers ask for overlapping sets of keys (track IDs); the upstream takes up to N keys per
request. :class:`BatchFlight` sends each key at most once while it is in flight: a caller joins
the in-flight batch that already holds a key it wants, and sends only the remaining keys, in
chunks of ``max_batch``, at most ``concurrency`` chunks at once.

Each chunk is a :class:`~engine.singleflight.SingleFlight` execution keyed by the chunk, so it
inherits those guarantees: it runs in the engine's task group, a cancelled caller does not
cancel a chunk others wait for, and an error reaches every caller that needed the chunk.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable, Iterable, Mapping, Sequence
from typing import Generic, TypeVar

from engine.batching import chunked, map_bounded
from engine.singleflight import SingleFlight

__all__ = ["BatchFlight"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

_Chunk = tuple[str, tuple[Hashable, ...]]


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
    ) -> None:
        if max_batch < 1 or concurrency < 1:
            raise ValueError("max_batch and concurrency must be at least 1")
        self.name = name
        self.max_batch = max_batch
        self.concurrency = concurrency
        self._fetch_many = fetch_many
        self._flights = flights
        self._in_flight: dict[K, _Chunk] = {}
        self.joined = 0
        """Keys a caller did not send because an in-flight chunk already held them."""

    async def get_many(self, keys: Iterable[K]) -> dict[K, V]:
        """Values for ``keys`` (those the upstream knows), sending each key at most once."""
        wanted = list(dict.fromkeys(keys))
        jobs: dict[_Chunk, list[K]] = {}
        fresh: list[K] = []
        for key in wanted:
            chunk = self._in_flight.get(key)
            if chunk is None:
                fresh.append(key)
            else:
                self.joined += 1
                jobs.setdefault(chunk, list(chunk[1]))  # type: ignore[arg-type]
        mine: list[_Chunk] = []
        for keys_ in chunked(fresh, self.max_batch):
            chunk = (self.name, tuple(keys_))
            mine.append(chunk)
            jobs[chunk] = keys_
            for key in keys_:
                self._in_flight[key] = chunk
        try:
            answers = await map_bounded(self._run, list(jobs.items()), limit=self.concurrency)
        finally:
            # A chunk that never started (its caller was cancelled first) must not stay listed;
            # one still running for other callers stays joinable until it ends.
            for chunk in mine:
                if not self._flights.running(chunk):
                    self._release(chunk)
        merged: dict[K, V] = {}
        for answer in answers:
            merged.update(answer)
        return {key: merged[key] for key in wanted if key in merged}

    async def _run(self, job: tuple[_Chunk, list[K]]) -> Mapping[K, V]:
        chunk, keys = job
        return await self._flights.do(chunk, lambda: self._fetch(chunk, keys))

    async def _fetch(self, chunk: _Chunk, keys: Sequence[K]) -> Mapping[K, V]:
        try:
            return await self._fetch_many(list(keys))
        finally:
            self._release(chunk)

    def _release(self, chunk: _Chunk) -> None:
        for key in chunk[1]:
            if self._in_flight.get(key) == chunk:  # type: ignore[call-overload]
                del self._in_flight[key]  # type: ignore[arg-type]

    def in_flight(self) -> int:
        """Keys held by in-flight chunks (0 once every call has returned)."""
        return len(self._in_flight)
