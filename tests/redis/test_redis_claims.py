"""Cross-instance deduplication of batched lookups: each key fetched by one instance."""

from __future__ import annotations

from collections.abc import Mapping

import anyio
import pytest
from conftest import FAST, Tier

from engine.shared import KeyClaims

pytestmark = pytest.mark.anyio


class Upstream:
    """Answers even keys; records every batch; ``fail`` makes the next batch raise."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.called = anyio.Event()  # the first batch went out
        self.fail = False
        self.stored: dict[int, str] = {}  # what the holder leaves in the shared store

    async def fetch(self, keys: list[int]) -> dict[int, str]:
        self.batches.append(keys)
        self.called.set()
        await anyio.sleep(0.05)
        if self.fail:
            self.fail = False
            raise ConnectionError("upstream down")
        found = {k: f"v{k}" for k in keys if k % 2 == 0}
        self.stored.update(found)
        return found

    async def answered(self, keys: list[int]) -> Mapping[int, str]:
        return {k: self.stored[k] for k in keys if k in self.stored}


async def test_overlapping_batches_of_two_instances_fetch_each_key_once(tier: Tier) -> None:
    upstream = Upstream()
    results: list[dict[int, str]] = []
    async with tier.connect() as first, tier.connect() as second:
        claims = [
            KeyClaims(backend, "ids", clock=tier.clock, settings=FAST)
            for backend in (first, second)
        ]

        async def ask(c: KeyClaims, keys: range) -> None:
            results.append(await c.fetch(list(keys), upstream.fetch, upstream.answered))

        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                tg.start_soon(ask, claims[0], range(0, 20, 2))
                # The first instance holds its claims once its batch is out (not after a head
                # start in real time, which a loaded machine can eat up).
                await upstream.called.wait()
                tg.start_soon(ask, claims[1], range(10, 30, 2))
    sent = sorted(k for batch in upstream.batches for k in batch)
    assert sent == list(range(0, 30, 2))  # every key once, across both instances
    assert {k: f"v{k}" for k in range(10, 30, 2)} in results
    assert {k: f"v{k}" for k in range(0, 20, 2)} in results
    assert claims[1].answered_remotely == 5


async def test_a_holder_that_fails_leaves_the_keys_to_the_waiter(tier: Tier) -> None:
    upstream = Upstream()
    upstream.fail = True
    outcomes: list[object] = []
    async with tier.connect() as first, tier.connect() as second:
        a = KeyClaims(first, "ids", clock=tier.clock, settings=FAST)
        b = KeyClaims(second, "ids", clock=tier.clock, settings=FAST)

        async def ask(c: KeyClaims) -> None:
            try:
                outcomes.append(await c.fetch([2, 4], upstream.fetch, upstream.answered))
            except ConnectionError as exc:
                outcomes.append(exc)

        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                tg.start_soon(ask, a)
                await upstream.called.wait()  # a holds the claims
                tg.start_soon(ask, b)
    assert isinstance(outcomes[0], ConnectionError)
    assert outcomes[1] == {2: "v2", 4: "v4"}
    assert len(upstream.batches) == 2


async def test_a_dead_holders_claims_lapse_and_the_waiter_fetches(tier: Tier) -> None:
    upstream = Upstream()
    async with tier.connect() as backend:
        # A holder that claimed key 2 and died: its claim is never renewed nor released.
        ttl_ms = int(FAST.lock_ttl * 1000)
        assert await backend.set_if_absent(f"{FAST.prefix}:claim:ids:2", b"dead", ttl_ms=ttl_ms)
        claims = KeyClaims(backend, "ids", clock=tier.clock, settings=FAST)
        started = anyio.current_time()
        with anyio.fail_after(5):
            found = await claims.fetch([2, 4], upstream.fetch, upstream.answered)
        waited = anyio.current_time() - started
    assert found == {2: "v2", 4: "v4"}
    assert upstream.batches == [[4], [2]]  # 4 at once; 2 once the dead claim lapsed
    assert waited >= FAST.lock_ttl * 0.9
