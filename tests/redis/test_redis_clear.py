"""Clearing a namespace: ``delete_prefix`` on a real Redis (SCAN MATCH and DEL in batches, in a
script) and on the in-process twin, with the same answers."""

from __future__ import annotations

import pytest
from conftest import FAST, Tier

from engine.cache.store import Entry
from engine.shared import RedisStore

pytestmark = pytest.mark.anyio


async def test_delete_prefix_drops_one_namespace_in_batches(tier: Tier) -> None:
    async with tier.connect() as backend:
        shared = RedisStore(backend, clock=tier.clock, config=FAST)
        now = tier.clock.wall()
        for i in range(1200):
            await shared.set(f"v1:tracks:t{i}", Entry(i, now + 60))
        await shared.set("v1:tracks-b:x", Entry("kept", now + 60))
        await shared.set("v1:artists:a", Entry("kept", now + 60))
        await tier.write_raw("other:v1:tracks:t1", b"not ours")

        assert await backend.delete_prefix("test:v1:tracks:", batch=100) == 1200
        assert await shared.get_many(["v1:tracks:t0", "v1:tracks:t1199"]) == [None, None]
        assert await shared.get("v1:tracks-b:x") == Entry("kept", now + 60)
        assert await shared.get("v1:artists:a") == Entry("kept", now + 60)
        assert await backend.get_many(["other:v1:tracks:t1"]) == [b"not ours"]
        assert await shared.delete_prefix("v1:artists:") == 1
        assert await shared.delete_prefix("v1:artists:") == 0


async def test_delete_prefix_matches_glob_characters_literally(tier: Tier) -> None:
    async with tier.connect() as backend:
        for key in ("a*[b]?:1", "a*[b]?:2", "ax[b]y:1", "a\\*:1"):
            await backend.set(key, b"v", ttl_ms=60_000)
        assert await backend.delete_prefix("a*[b]?:") == 2
        assert await backend.get_many(["ax[b]y:1", "a\\*:1"]) == [b"v", b"v"]
