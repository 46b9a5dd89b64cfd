"""What cashews/aiocache users expect: ``Engine.cached_fn``, a per-call TTL, ``invalidate`` and
``clear``; through the memory store and the tiered store over the in-process twin."""

from __future__ import annotations

import inspect
import math
from typing import Any

import anyio
import pytest

from engine import MISSING, Engine, MemoryStore, VirtualClock
from engine.cache import HOUR, MINUTE, Entry, UnknownNamespaceError, cache_key
from engine.clock import Clock
from engine.shared import InProcessRedis, RedisStore, SharedTierConfig, TieredStore
from tests.engine_configs import engine_config

pytestmark = pytest.mark.anyio

SHARED = SharedTierConfig(prefix="t")


def tiered(clock: Clock, twin: InProcessRedis) -> TieredStore:
    return TieredStore(
        MemoryStore(clock=clock),
        RedisStore(twin, clock=clock, config=SHARED),
        clock=clock,
        config=SHARED,
    )


# -- cached_fn ---------------------------------------------------------------------------------


async def test_cached_fn_caches_by_arguments_shares_misses_and_keeps_the_signature() -> None:
    clock = VirtualClock()
    async with Engine(engine_config(), clock=clock, seed=1) as engine:
        calls: list[tuple[str, int]] = []

        @engine.cached_fn("tracks")
        async def track(track_id: str, size: int = 10) -> dict[str, Any]:
            """One track."""
            calls.append((track_id, size))
            await anyio.sleep(0.2)
            return {"id": track_id, "size": size}

        assert track.__name__ == "track" and track.__doc__ == "One track."
        assert list(inspect.signature(track).parameters) == ["track_id", "size"]
        results: list[Any] = []
        async with anyio.create_task_group() as tg:
            for _ in range(5):
                tg.start_soon(lambda: _append(results, track("a")))
        assert results == [{"id": "a", "size": 10}] * 5
        # Defaults applied, keyword or positional: one key.
        assert await track("a", 10) == await track(track_id="a", size=10)
        assert calls == [("a", 10)]
        await track("a", 11)
        await track("b")
        assert calls == [("a", 10), ("a", 11), ("b", 10)]
        stats = engine.stats()
        assert stats.upstream_attempts == 3 and stats.flights.shared == 4
        assert stats.cache.namespaces["tracks"].hits == 2


async def _append(results: list[Any], call: Any) -> None:
    results.append(await call)


async def test_cached_fn_default_key_keeps_argument_order() -> None:
    async with Engine(engine_config(), clock=VirtualClock(), seed=1) as engine:

        @engine.cached_fn("seeds")
        async def pair(a: Any, b: Any) -> list[Any]:
            return [a, b]

        assert await pair(1, 2) == [1, 2]
        assert await pair(2, 1) == [2, 1]
        assert await pair([1, 2], None) == [[1, 2], None]
        assert await pair([2, 1], None) == [[2, 1], None]
        with pytest.raises(TypeError, match="pass key="):
            await pair(object(), 1)


async def test_cached_fn_with_a_key_function_and_missing() -> None:
    async with Engine(engine_config(), clock=VirtualClock(), seed=1) as engine:
        calls = 0

        @engine.cached_fn("ids", key=lambda spotify_id, **_: {"spotify": spotify_id})
        async def lookup(spotify_id: str, *, verbose: bool = False) -> str | Any:
            nonlocal calls
            calls += 1
            return MISSING if spotify_id == "none" else f"rb-{spotify_id}"

        assert await lookup("x") == "rb-x"
        assert await lookup("x", verbose=True) == "rb-x"  # the key function ignores `verbose`
        assert await lookup("none") is MISSING
        assert await lookup("none") is MISSING  # "ids" has a missing_ttl: a negative entry
        assert calls == 2
        assert await engine.invalidate("ids", {"spotify": "x"}) is True
        assert await lookup("x") == "rb-x"
        assert calls == 3


async def test_cached_fn_checks_its_namespace_and_ttl_when_decorating() -> None:
    engine = Engine(engine_config(), clock=VirtualClock(), seed=1)
    with pytest.raises(UnknownNamespaceError):
        engine.cached_fn("albums")
    with pytest.raises(ValueError, match="finite seconds > 0"):
        engine.cached_fn("tracks", ttl=0)

    @engine.cached_fn("tracks")
    async def track(track_id: str) -> str:
        return track_id

    with pytest.raises(RuntimeError, match="not open"):
        await track("a")


# -- per-call TTL ------------------------------------------------------------------------------


async def test_a_per_call_ttl_sets_the_stored_expiry() -> None:
    clock = VirtualClock()
    store = MemoryStore(clock=clock)
    async with Engine(engine_config(), clock=clock, store=store, seed=1) as engine:
        calls = 0

        async def fetch() -> str:
            nonlocal calls
            calls += 1
            return f"v{calls}"

        start = clock.wall()
        assert await engine.cached("tracks", "short", fetch, ttl=30) == "v1"
        assert await engine.cached("tracks", "long", fetch) == "v2"
        short = await store.get(cache_key("tracks", "short"))
        assert short is not None and short.expires_at == pytest.approx(start + 30, abs=1)
        long = await store.get(cache_key("tracks", "long"))
        assert long is not None and long.expires_at == pytest.approx(start + 2 * HOUR, abs=1)

        await anyio.sleep(31)
        assert await engine.cached("tracks", "short", fetch, ttl=30) == "v3"
        assert await engine.cached("tracks", "long", fetch) == "v2"

        @engine.cached_fn("tracks", ttl=MINUTE)
        async def track(track_id: str) -> str:
            return await fetch()

        assert await track("t") == "v4"
        await anyio.sleep(59)
        assert await track("t") == "v4"
        await anyio.sleep(2)
        assert await track("t") == "v5"


@pytest.mark.parametrize("ttl", [0, -1, math.inf, math.nan])
async def test_a_per_call_ttl_must_be_finite_and_positive(ttl: float) -> None:
    async with Engine(engine_config(), clock=VirtualClock(), seed=1) as engine:

        async def fetch() -> str:
            raise AssertionError("not fetched")

        with pytest.raises(ValueError, match="ttl: expected finite seconds > 0"):
            await engine.cached("tracks", "k", fetch, ttl=ttl)
    with pytest.raises(TypeError, match="ttl"):
        Engine(engine_config(), clock=VirtualClock()).cached_fn("tracks", ttl="60")  # type: ignore[arg-type]


# -- invalidate and clear ----------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["memory", "tiered"])
async def test_invalidate_and_clear(kind: str) -> None:
    clock = VirtualClock()
    twin = InProcessRedis(clock=clock)
    store = MemoryStore(clock=clock) if kind == "memory" else tiered(clock, twin)
    async with Engine(engine_config(), clock=clock, store=store, seed=1) as engine:
        calls = 0

        async def fetch() -> str:
            nonlocal calls
            calls += 1
            return f"v{calls}"

        for key in ("a", "b", "c"):
            await engine.cached("tracks", key, fetch)
        await engine.cached("artists", "a", fetch)
        assert calls == 4

        assert await engine.invalidate("tracks", "a") is True
        assert await engine.invalidate("tracks", "a") is False
        assert await engine.invalidate("tracks", "never") is False
        assert await engine.cached("tracks", "a", fetch) == "v5"
        assert await engine.cached("tracks", "b", fetch) == "v2"

        assert await engine.clear("tracks") == 3
        assert await engine.clear("tracks") == 0
        assert await engine.cached("tracks", "b", fetch) == "v6"
        assert await engine.cached("artists", "a", fetch) == "v4"  # another namespace: kept
        assert engine.stats().cache.namespaces["tracks"].size == 1
        assert engine.stats().cache.namespaces["artists"].size == 1
        with pytest.raises(UnknownNamespaceError):
            await engine.clear("albums")

    if kind == "tiered":
        # Both tiers were cleared: a fresh memory tier over the same twin finds only what is left.
        other = tiered(clock, twin)
        assert await other.get("v1:tracks:b") is not None
        assert await other.get("v1:tracks:c") is None
        assert await other.get("v1:artists:a") is not None


async def test_clear_of_a_tiered_store_while_the_shared_tier_is_down() -> None:
    clock = VirtualClock()
    twin = InProcessRedis(clock=clock)
    store = tiered(clock, twin)
    now = clock.wall()
    await store.set("v1:tracks:a", Entry("x", now + 60))
    twin.available = False
    assert await store.delete_prefix("v1:tracks:") is None  # cannot say: the shared tier is down
    assert await store.memory.get("v1:tracks:a") is None
    assert store.stats().shared_errors == 1


async def test_clear_needs_a_store_that_deletes_by_prefix() -> None:
    class PlainStore:
        async def get(self, key: str) -> Entry | None:
            return None

        async def get_many(self, keys: Any) -> list[Entry | None]:
            return [None for _ in keys]

        async def set(self, key: str, entry: Entry) -> None:
            pass

        async def delete(self, key: str) -> None:
            pass

    async with Engine(engine_config(), clock=VirtualClock(), store=PlainStore(), seed=1) as engine:
        with pytest.raises(TypeError, match="cannot clear a namespace"):
            await engine.clear("tracks")


async def test_invalidate_propagates_store_errors() -> None:
    class BrokenStore(MemoryStore):
        async def delete(self, key: str) -> None:
            raise ConnectionError("down")

    clock = VirtualClock()
    async with Engine(
        engine_config(), clock=clock, store=BrokenStore(clock=clock), seed=1
    ) as engine:
        with pytest.raises(ConnectionError):
            await engine.invalidate("tracks", "a")
        assert engine.stats().cache.store_errors == 1
