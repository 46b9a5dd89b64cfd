"""Round-trip latency, summarised without keeping samples."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar

import msgspec

from engine.clock import Clock

T = TypeVar("T")

__all__ = ["Latency", "LatencyStats"]


class LatencyStats(msgspec.Struct, frozen=True):
    round_trips: int
    mean_ms: float
    """Mean round trip in milliseconds (0.0 before the first)."""
    max_ms: float


class Latency:
    """Counts round trips and sums their durations (seconds on the engine clock)."""

    __slots__ = ("_count", "_max", "_total", "errors")

    def __init__(self) -> None:
        self._count = 0
        self._total = 0.0
        self._max = 0.0
        self.errors = 0
        """Round trips that raised (not counted in the latency)."""

    async def timed(self, call: Awaitable[T], clock: Clock) -> T:
        """``await call``, its duration recorded on success, counted in ``errors`` if it raises."""
        started = clock.monotonic()
        try:
            result = await call
        except Exception:
            self.errors += 1
            raise
        self.add(clock.monotonic() - started)
        return result

    def add(self, seconds: float) -> None:
        self._count += 1
        self._total += seconds
        self._max = max(self._max, seconds)

    def stats(self) -> LatencyStats:
        mean = self._total / self._count * 1000 if self._count else 0.0
        return LatencyStats(round_trips=self._count, mean_ms=mean, max_ms=self._max * 1000)
