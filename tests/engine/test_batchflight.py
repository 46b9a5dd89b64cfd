from __future__ import annotations

import anyio
import anyio.lowlevel
import pytest

from engine.batchflight import BatchFlight
from engine.singleflight import SingleFlight

pytestmark = pytest.mark.anyio


class Lookup:
    """An upstream that knows even numbers only; records every batch it was sent."""

    def __init__(self, latency: float = 1.0, fail: bool = False) -> None:
        self.batches: list[list[int]] = []
        self.latency = latency
        self.fail = fail

    async def __call__(self, keys: list[int]) -> dict[int, str]:
        self.batches.append(keys)
        await anyio.sleep(self.latency)
        if self.fail:
            raise ConnectionError("upstream down")
        return {k: f"track-{k}" for k in keys if k % 2 == 0}


async def test_90_ids_make_three_requests_of_at_most_40() -> None:
    lookup = Lookup()
    async with SingleFlight() as flights:
        batch = BatchFlight("ids", lookup, flights=flights, max_batch=40, concurrency=4)
        found = await batch.get_many(range(90))
    assert sorted(len(b) for b in lookup.batches) == [10, 40, 40]
    assert found == {k: f"track-{k}" for k in range(0, 90, 2)}
    assert batch.in_flight() == 0


async def test_overlapping_concurrent_callers_send_each_key_once() -> None:
    lookup = Lookup()
    results: dict[str, dict[int, str]] = {}
    async with SingleFlight() as flights:
        batch = BatchFlight("ids", lookup, flights=flights, max_batch=40, concurrency=4)

        async def ask(name: str, keys: range) -> None:
            results[name] = await batch.get_many(keys)

        async with anyio.create_task_group() as tg:
            tg.start_soon(ask, "a", range(0, 50))
            await anyio.sleep(0.1)
            tg.start_soon(ask, "b", range(30, 70))
            tg.start_soon(ask, "c", range(0, 50))
    sent = [k for b in lookup.batches for k in b]
    assert sorted(sent) == list(range(70))  # no key sent twice
    assert results["a"] == results["c"] == {k: f"track-{k}" for k in range(0, 50, 2)}
    assert results["b"] == {k: f"track-{k}" for k in range(30, 70, 2)}
    assert batch.joined == 20 + 50


async def test_errors_reach_callers_that_joined_and_are_not_remembered() -> None:
    lookup = Lookup(fail=True)
    errors: list[str] = []
    async with SingleFlight() as flights:
        batch = BatchFlight("ids", lookup, flights=flights, max_batch=40, concurrency=4)

        async def ask() -> None:
            try:
                await batch.get_many(range(10))
            except ConnectionError as exc:
                errors.append(str(exc))

        async with anyio.create_task_group() as tg:
            tg.start_soon(ask)
            tg.start_soon(ask)
        assert errors == ["upstream down"] * 2
        assert len(lookup.batches) == 1
        assert batch.in_flight() == 0
        lookup.fail = False
        assert len(await batch.get_many(range(10))) == 5


async def test_cancelled_first_caller_keeps_the_chunk_for_others() -> None:
    lookup = Lookup(latency=5)
    async with SingleFlight() as flights:
        batch = BatchFlight("ids", lookup, flights=flights, max_batch=40, concurrency=4)
        got: list[dict[int, str]] = []

        async def first() -> None:
            with anyio.move_on_after(1):
                await batch.get_many(range(4))

        async def second() -> None:
            got.append(await batch.get_many(range(4)))

        async with anyio.create_task_group() as tg:
            tg.start_soon(first)
            await anyio.sleep(0.5)
            tg.start_soon(second)
            await anyio.sleep(0.6)  # the first caller is gone now
            assert batch.in_flight() == 4  # still joinable: it runs for the second caller
            tg.start_soon(second)
        assert got == [{0: "track-0", 2: "track-2"}] * 2
        assert len(lookup.batches) == 1
        assert batch.in_flight() == 0


async def test_everyone_cancelled_leaves_nothing_behind() -> None:
    lookup = Lookup(latency=5)
    async with SingleFlight() as flights:
        batch = BatchFlight("ids", lookup, flights=flights, max_batch=3, concurrency=1)
        with anyio.move_on_after(1):
            await batch.get_many(range(9))  # chunks 2 and 3 never start
        await anyio.lowlevel.checkpoint()
        assert batch.in_flight() == 0
        assert flights.in_flight() == 0


async def test_joiner_reads_a_chunk_that_finished_before_it_got_round_to_it() -> None:
    sent: list[list[int]] = []

    async def lookup(keys: list[int]) -> dict[int, str]:
        sent.append(keys)
        await anyio.sleep(10 if 1 in keys else 1)
        return {k: f"v{k}" for k in keys}

    async with SingleFlight() as flights, anyio.create_task_group() as tg:
        batch = BatchFlight("ids", lookup, flights=flights, max_batch=40, concurrency=4)
        tg.start_soon(batch.get_many, [1])
        tg.start_soon(batch.get_many, [2])
        await anyio.sleep(0.5)
        # One chunk at a time: the chunk holding 2 ends (at 1 s) while this caller still waits
        # for the chunk holding 1; it must read that outcome, not send 2 again.
        assert await batch.get_many([1, 2], concurrency=1) == {1: "v1", 2: "v2"}
    assert sorted(sent) == [[1], [2]]
