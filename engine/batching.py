"""Fan-out helpers: split work into chunks and run it with bounded, staggered concurrency."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import TypeVar

import anyio

from engine.exception_groups import single_error
from engine.virtual import loop_time

__all__ = ["chunked", "map_bounded"]

T = TypeVar("T")
R = TypeVar("R")


def chunked(items: Iterable[T], size: int) -> list[list[T]]:
    """Consecutive chunks of at most ``size`` items, in order."""
    if size < 1:
        raise ValueError(f"chunk size must be at least 1, not {size}")
    items = list(items)
    return [items[i : i + size] for i in range(0, len(items), size)]


async def map_bounded(
    fn: Callable[[T], Awaitable[R]],
    items: Sequence[T],
    *,
    limit: int,
    stagger: float = 0.0,
) -> list[R]:
    """``[await fn(item) for item in items]``, at most ``limit`` at once, results in order.

    Items start in order: ``limit`` workers take the next item as they free up, so which items
    run at any instant never depends on how the event loop orders simultaneous wake-ups. Item
    ``i`` starts no earlier than ``stagger * i`` seconds after the call (the design note's
    "0.2 s x index" for recommendation chunks). The calls run in a task group owned by this
    call: when one fails, the others are cancelled and that error is raised (unwrapped from the
    exception group when it is the only one); nothing outlives the call.
    """
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    results: list[R] = [None] * len(items)  # type: ignore[list-item]
    start = loop_time()
    pending = iter(enumerate(items))

    async def worker() -> None:
        for index, item in pending:
            if stagger:
                await anyio.sleep_until(start + stagger * index)
            results[index] = await fn(item)

    with single_error():
        async with anyio.create_task_group() as tg:
            for _ in range(min(limit, len(items))):
                tg.start_soon(worker)
    return results
