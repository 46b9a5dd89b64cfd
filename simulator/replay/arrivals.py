"""Arrival instants from an arrival process, seeded, with no shared random state."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator

from simulator.replay.scenario import Arrivals, Burst, Poisson, Ramp, Times
from simulator.upstream.seeded import digest

__all__ = ["arrival_times", "iter_arrival_times", "rng_for"]


def rng_for(seed: int, *parts: object) -> random.Random:
    """A generator of its own for one purpose: ``(seed, parts)`` fixes every draw from it."""
    return random.Random(digest(seed, "\x1f".join(map(str, parts))))


def arrival_times(process: Arrivals, *, duration: float, rng: random.Random) -> list[float]:
    """Sorted instants (seconds from the start) of ``process`` within ``duration``."""
    return list(iter_arrival_times(process, duration=duration, rng=rng))


def iter_arrival_times(
    process: Arrivals, *, duration: float, rng: random.Random
) -> Iterator[float]:
    """The instants of :func:`arrival_times` in increasing order, drawn as they are consumed:
    a Poisson stream of a million arrivals never sits in memory (bursts and explicit times are
    as long as the scenario file says, and are sorted)."""
    if isinstance(process, Times):
        return iter(sorted(t for t in process.at if t <= duration))
    if isinstance(process, Burst):
        times = [process.start + rng.random() * process.within for _ in range(process.count)]
        return iter(sorted(t for t in times if t <= duration))
    end = duration if process.end is None else min(process.end, duration)
    if isinstance(process, Poisson):
        return _poisson(rng, process.start, end, lambda _: process.per_minute / 60)
    assert isinstance(process, Ramp)
    span = max(end - process.start, 1e-9)
    low, high = process.from_per_minute / 60, process.to_per_minute / 60
    return _poisson(
        rng, process.start, end, lambda t: low + (high - low) * (t - process.start) / span
    )


def _poisson(
    rng: random.Random, start: float, end: float, rate: Callable[[float], float]
) -> Iterator[float]:
    """A (non-homogeneous) Poisson process by thinning against its peak rate."""
    peak = max(rate(start), rate(end))
    if peak <= 0:
        return
    t = start
    while True:
        t += -math.log(1.0 - rng.random()) / peak
        if t > end:
            return
        if rng.random() * peak <= rate(t):
            yield t
