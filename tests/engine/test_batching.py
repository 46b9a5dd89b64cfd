from __future__ import annotations

import itertools

import anyio
import pytest

from engine.batching import chunked, map_bounded

pytestmark = pytest.mark.anyio


def test_chunked() -> None:
    assert chunked(range(90), 40) == [list(range(40)), list(range(40, 80)), list(range(80, 90))]
    assert chunked([], 5) == []
    with pytest.raises(ValueError, match="at least 1"):
        chunked([1], 0)


async def test_map_bounded_limits_staggers_and_keeps_order() -> None:
    start = anyio.current_time()
    running = peak = 0
    started: list[float] = []

    async def work(i: int) -> int:
        nonlocal running, peak
        started.append(round(anyio.current_time() - start, 6))
        running += 1
        peak = max(peak, running)
        await anyio.sleep(1 if i % 2 else 0.1)
        running -= 1
        return i * 10

    assert await map_bounded(work, list(range(6)), limit=3, stagger=0.2) == [0, 10, 20, 30, 40, 50]
    assert peak == 3
    assert started[:3] == [0.0, 0.2, 0.4]
    assert all(b >= a for a, b in itertools.pairwise(started))


async def test_map_bounded_one_failure_cancels_the_rest_and_raises_it() -> None:
    finished: list[int] = []

    async def work(i: int) -> int:
        await anyio.sleep(i)
        if i == 1:
            raise LookupError("chunk 1 failed")
        finished.append(i)
        return i

    with pytest.raises(LookupError, match="chunk 1"):
        await map_bounded(work, [0, 1, 2, 3], limit=4)
    await anyio.sleep(10)
    assert finished == [0]
