from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import anyio
import msgspec
import pytest

from engine.cache import (
    DAY,
    HOUR,
    MISSING,
    Cache,
    CacheStats,
    Entry,
    MemoryStore,
    NamespaceTtl,
    TtlPolicy,
    UnknownNamespaceError,
    cache_key,
    canonical,
)
from engine.clock import DEFAULT_EPOCH, VirtualClock
from engine.singleflight import SingleFlight
from tests.engine_configs import POLICY

pytestmark = pytest.mark.anyio


class Upstream:
    """A fetch that counts its calls, takes ``delay`` seconds and returns or raises in turn."""

    def __init__(self, *results: Any, delay: float = 0.0) -> None:
        self.results = list(results) or ["value"]
        self.delay = delay
        self.calls = 0

    async def __call__(self) -> Any:
        result = self.results[min(self.calls, len(self.results) - 1)]
        self.calls += 1
        if self.delay:
            await anyio.sleep(self.delay)
        if isinstance(result, BaseException):
            raise result
        return result


class CountingStore(MemoryStore):
    __slots__ = ("round_trips",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.round_trips: list[str] = []

    async def get(self, key: str) -> Entry | None:
        self.round_trips.append("get")
        return await super().get(key)

    async def get_many(self, keys: Sequence[str]) -> list[Entry | None]:
        self.round_trips.append("get_many")
        return await super().get_many(keys)

    async def set(self, key: str, entry: Entry) -> None:
        self.round_trips.append("set")
        await super().set(key, entry)


class BrokenStore:
    """A store that is down: every method raises."""

    def __init__(self) -> None:
        self.attempts = 0

    async def _fail(self) -> Any:
        self.attempts += 1
        await anyio.lowlevel.checkpoint()
        raise ConnectionError("store is down")

    async def get(self, key: str) -> Entry | None:
        return await self._fail()  # type: ignore[no-any-return]

    async def get_many(self, keys: Sequence[str]) -> list[Entry | None]:
        return await self._fail()  # type: ignore[no-any-return]

    async def set(self, key: str, entry: Entry) -> None:
        await self._fail()

    async def delete(self, key: str) -> None:
        await self._fail()


@asynccontextmanager
async def open_cache(store: Any = None, **kwargs: Any) -> AsyncIterator[Cache]:
    clock = VirtualClock()
    if store is None:
        store = MemoryStore(100, clock=clock)
    async with SingleFlight() as flights:
        kwargs.setdefault("policy", POLICY)
        yield Cache(store, flights=flights, clock=clock, **kwargs)


async def test_hit_after_miss() -> None:
    fetch = Upstream({"id": "t1"})
    async with open_cache() as cache:
        assert await cache.get_or_fetch("tracks", "t1", fetch) == {"id": "t1"}
        assert await cache.get_or_fetch("tracks", "t1", fetch) == {"id": "t1"}
        assert await cache.get_or_fetch("tracks", "t1", fetch) == {"id": "t1"}
        assert fetch.calls == 1
        tracks = cache.stats().namespaces["tracks"]
        assert (tracks.hits, tracks.misses, tracks.size) == (2, 1, 1)
        assert tracks.hit_rate == pytest.approx(2 / 3)
        # Namespaces are separate: the same key elsewhere is another entry.
        assert await cache.get_or_fetch("artists", "t1", Upstream("artist")) == "artist"


async def test_expiry_exactly_at_the_ttl_boundary() -> None:
    fetch = Upstream("v1", "v2")
    async with open_cache() as cache:
        ttl = cache.policy.for_namespace("tracks").ttl
        assert ttl == 2 * HOUR
        assert await cache.get_or_fetch("tracks", "t", fetch) == "v1"
        await anyio.sleep(ttl - 1)
        assert await cache.get_or_fetch("tracks", "t", fetch) == "v1"
        await anyio.sleep(1)  # exactly ttl after the fetch: stale
        assert await cache.get_or_fetch("tracks", "t", fetch) == "v2"
        assert fetch.calls == 2
        stats = cache.stats().namespaces["tracks"]
        assert (stats.hits, stats.misses, stats.expirations, stats.size) == (1, 2, 1, 1)


async def test_sixty_day_ttl_of_the_id_registry() -> None:
    fetch = Upstream("spotify:abc", "spotify:abc-2")
    async with open_cache() as cache:
        clock = VirtualClock()
        assert clock.wall() == DEFAULT_EPOCH
        assert await cache.get_or_fetch("ids", "abc", fetch) == "spotify:abc"
        await anyio.sleep(60 * DAY - 1)
        assert await cache.get_or_fetch("ids", "abc", fetch) == "spotify:abc"
        assert fetch.calls == 1
        await anyio.sleep(1)
        assert clock.wall() == DEFAULT_EPOCH + 60 * DAY
        assert await cache.get_or_fetch("ids", "abc", fetch) == "spotify:abc-2"
        assert fetch.calls == 2


async def test_negative_caching_for_fourteen_days() -> None:
    fetch = Upstream(MISSING, "found at last")
    async with open_cache() as cache:
        assert await cache.get_or_fetch("ids", "bad", fetch) is MISSING
        await anyio.sleep(14 * DAY - 1)
        assert await cache.get_or_fetch("ids", "bad", fetch) is MISSING
        assert fetch.calls == 1
        await anyio.sleep(1)
        assert await cache.get_or_fetch("ids", "bad", fetch) == "found at last"
        assert fetch.calls == 2
        # Now a positive entry with the 60-day TTL.
        await anyio.sleep(30 * DAY)
        assert await cache.get_or_fetch("ids", "bad", fetch) == "found at last"
        assert fetch.calls == 2
        ids = cache.stats().namespaces["ids"]
        assert (ids.hits, ids.negative_hits, ids.misses, ids.expirations) == (1, 1, 2, 1)
        assert ids.hit_rate == pytest.approx(0.5)


async def test_missing_is_not_cached_without_a_missing_ttl() -> None:
    fetch = Upstream(MISSING, MISSING)
    store = CountingStore(10, clock=VirtualClock())
    async with open_cache(store) as cache:
        assert cache.policy.for_namespace("tracks").missing_ttl is None
        assert await cache.get_or_fetch("tracks", "gone", fetch) is MISSING
        assert await cache.get_or_fetch("tracks", "gone", fetch) is MISSING
        assert fetch.calls == 2
        assert "set" not in store.round_trips
        assert cache.stats().namespaces["tracks"].negative_hits == 0


async def test_custom_policy() -> None:
    policy = TtlPolicy(namespaces={"tracks": NamespaceTtl(ttl=5, missing_ttl=2)})
    fetch = Upstream(MISSING, "v")
    async with open_cache(policy=policy) as cache:
        assert await cache.get_or_fetch("tracks", "t", fetch) is MISSING
        await anyio.sleep(1.5)
        assert await cache.get_or_fetch("tracks", "t", fetch) is MISSING
        await anyio.sleep(0.5)
        assert await cache.get_or_fetch("tracks", "t", fetch) == "v"
        await anyio.sleep(4.5)
        assert await cache.get_or_fetch("tracks", "t", fetch) == "v"
        assert fetch.calls == 2


async def test_errors_are_not_cached() -> None:
    fetch = Upstream(RuntimeError("upstream 500"), "ok")
    async with open_cache() as cache:
        with pytest.raises(RuntimeError, match="upstream 500"):
            await cache.get_or_fetch("tracks", "t", fetch)
        assert await cache.get_or_fetch("tracks", "t", fetch) == "ok"
        assert await cache.get_or_fetch("tracks", "t", fetch) == "ok"
        assert fetch.calls == 2
        assert cache.stats().namespaces["tracks"].size == 1


async def test_concurrent_misses_share_one_fetch() -> None:
    fetch = Upstream("shared", delay=1.0)
    other = Upstream("other", delay=1.0)
    results: dict[int, Any] = {}

    async with open_cache() as cache:

        async def call(i: int) -> None:
            await anyio.sleep(i * 1e-3)  # distinct instants, all before the fetch returns
            if i % 5 == 4:
                results[i] = await cache.get_or_fetch("tracks", "other", other)
            else:
                results[i] = await cache.get_or_fetch("tracks", "t", fetch)

        async with anyio.create_task_group() as tg:
            for i in range(20):
                tg.start_soon(call, i)
        assert fetch.calls == 1
        assert other.calls == 1
        assert sorted(results) == list(range(20))
        assert {results[i] for i in range(20) if i % 5 != 4} == {"shared"}
        assert {results[i] for i in range(20) if i % 5 == 4} == {"other"}
        stats = cache.stats().namespaces["tracks"]
        assert (stats.misses, stats.hits, stats.size) == (20, 0, 2)


async def test_concurrent_failures_are_shared_and_not_cached() -> None:
    fetch = Upstream(RuntimeError("boom"), "ok", delay=1.0)
    errors: list[BaseException] = []
    async with open_cache() as cache:

        async def call() -> None:
            try:
                await cache.get_or_fetch("tracks", "t", fetch)
            except RuntimeError as exc:
                errors.append(exc)

        async with anyio.create_task_group() as tg:
            for _ in range(5):
                tg.start_soon(call)
        assert len(errors) == 5
        assert fetch.calls == 1
        assert await cache.get_or_fetch("tracks", "t", fetch) == "ok"
        assert fetch.calls == 2


async def test_cancelled_sole_caller_leaves_nothing_behind() -> None:
    fetch = Upstream("first", "second", delay=10.0)
    store = MemoryStore(10, clock=VirtualClock())
    async with open_cache(store) as cache:
        with anyio.move_on_after(5) as scope:
            await cache.get_or_fetch("tracks", "t", fetch)
        assert scope.cancelled_caught
        await anyio.sleep(20)  # long after the abandoned fetch would have finished
        assert len(store) == 0
        assert await cache.get_or_fetch("tracks", "t", fetch) == "second"
        assert fetch.calls == 2
        assert await cache.get_or_fetch("tracks", "t", fetch) == "second"
        assert fetch.calls == 2


async def test_cancelled_caller_does_not_cancel_a_shared_fetch() -> None:
    fetch = Upstream("value", delay=10.0)
    got: list[Any] = []
    async with open_cache() as cache:

        async def patient() -> None:
            await anyio.sleep(1)
            got.append(await cache.get_or_fetch("tracks", "t", fetch))

        async with anyio.create_task_group() as tg:
            tg.start_soon(patient)
            with anyio.move_on_after(5) as scope:
                await cache.get_or_fetch("tracks", "t", fetch)
        assert scope.cancelled_caught
        assert got == ["value"]
        assert await cache.get_or_fetch("tracks", "t", fetch) == "value"
        assert fetch.calls == 1


async def test_a_broken_store_degrades_to_no_cache(caplog: pytest.LogCaptureFixture) -> None:
    store = BrokenStore()
    fetch = Upstream("v1", "v2", "v3")
    with caplog.at_level(logging.DEBUG, logger="engine.cache"):
        async with open_cache(store) as cache:
            assert await cache.get_or_fetch("tracks", "t", fetch) == "v1"
            assert await cache.get_or_fetch("tracks", "t", fetch) == "v2"
            assert await cache.get_or_fetch("ids", "bad", Upstream(MISSING)) is MISSING
            assert await cache.lookup_many("ids", ["a", "b"]) == {}
            await cache.store_many("ids", {"a": "A", "b": MISSING})
            assert fetch.calls == 2
            stats = cache.stats()
            # get + set per call (3 calls), get_many once, store_many: a and b.
            assert stats.store_errors == 3 * 2 + 1 + 2 == store.attempts
            assert stats.namespaces["tracks"].misses == 2
            assert stats.namespaces["ids"].misses == 3
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1  # at most one warning per minute; the rest at debug
    assert "store is down" in warnings[0].getMessage()
    assert "get" in warnings[0].getMessage()
    debug = [r for r in caplog.records if r.levelno == logging.DEBUG]
    assert len(debug) == stats.store_errors - 1


async def test_store_warnings_repeat_after_the_interval(caplog: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("test.cache.store-warnings")
    with caplog.at_level(logging.WARNING, logger=log.name):
        async with open_cache(BrokenStore(), log=log, warn_interval=30) as cache:
            for _ in range(3):
                assert await cache.get_or_fetch("tracks", "t", Upstream("v")) == "v"
                await anyio.sleep(30)
    assert len([r for r in caplog.records if r.name == log.name]) == 3


async def test_failing_delete_of_a_stale_entry() -> None:
    class NoDelete(MemoryStore):
        async def delete(self, key: str) -> None:
            raise OSError("read-only replica")

    clock = VirtualClock()
    store = NoDelete(10, clock=clock)
    await store.set(cache_key("tracks", "t"), Entry("stale", clock.wall() - 1))
    async with open_cache(store) as cache:
        assert await cache.get_or_fetch("tracks", "t", Upstream("fresh")) == "fresh"
        stats = cache.stats()
        assert stats.store_errors == 1
        assert stats.namespaces["tracks"].expirations == 1
        assert await cache.get_or_fetch("tracks", "t", Upstream("other")) == "fresh"


async def test_lookup_many_and_store_many() -> None:
    store = CountingStore(100, clock=VirtualClock())
    async with open_cache(store) as cache:
        await cache.store_many("ids", {"a": "A", "b": MISSING, "c": "C"})
        await cache.store_many("tracks", {"x": MISSING, "y": "Y"})  # tracks: MISSING not kept
        assert store.round_trips == ["set"] * 4
        store.round_trips.clear()
        found = await cache.lookup_many("ids", ["a", "b", "d", "a", "c"])
        assert found == {"a": "A", "b": MISSING, "c": "C"}
        assert store.round_trips == ["get_many"]
        assert await cache.lookup_many("tracks", ["x", "y"]) == {"y": "Y"}
        assert await cache.lookup_many("tracks", []) == {}
        ids = cache.stats().namespaces["ids"]
        assert (ids.hits, ids.negative_hits, ids.misses, ids.size) == (2, 1, 1, 3)
        # get_or_fetch sees what store_many stored: same keys.
        assert await cache.get_or_fetch("ids", "a", Upstream("refetched")) == "A"
        assert await cache.get_or_fetch("ids", "b", Upstream("refetched")) is MISSING
        # Negative entries expire after 14 days, positive ones after 60.
        await anyio.sleep(14 * DAY)
        assert await cache.lookup_many("ids", ["a", "b"]) == {"a": "A"}
        await anyio.sleep(46 * DAY)
        assert await cache.lookup_many("ids", ["a", "b", "c"]) == {}
        assert cache.stats().namespaces["ids"].expirations == 4


async def test_parameter_keys_are_canonical() -> None:
    fetch = Upstream(["r1", "r2"])
    async with open_cache() as cache:
        first = {"seeds": ["b", "a"], "limit": 20}
        again = {"limit": 20, "seeds": ["a", "b", "a"], "market": None}
        assert await cache.get_or_fetch("recommendations", first, fetch) == ["r1", "r2"]
        assert await cache.get_or_fetch("recommendations", again, fetch) == ["r1", "r2"]
        assert fetch.calls == 1
        await cache.get_or_fetch("recommendations", {"seeds": ["a"], "limit": 20}, fetch)
        assert fetch.calls == 2


async def test_unknown_namespace() -> None:
    async with open_cache() as cache:
        with pytest.raises(UnknownNamespaceError, match=r"'albums'.*recommendations"):
            await cache.get_or_fetch("albums", "x", Upstream())
        with pytest.raises(UnknownNamespaceError, match="albums"):
            await cache.lookup_many("albums", ["x"])
        with pytest.raises(UnknownNamespaceError, match="albums"):
            await cache.store_many("albums", {"x": 1})


async def test_stats_are_json_and_count_evictions() -> None:
    clock = VirtualClock()
    async with open_cache(MemoryStore(3, clock=clock)) as cache:
        empty = cache.stats()
        assert empty.total.hit_rate == 0.0
        for key in ("a", "b", "c", "d"):
            await cache.get_or_fetch("tracks", key, Upstream(key))
        await cache.get_or_fetch("ids", "z", Upstream(MISSING))  # evicts tracks:b
        await cache.get_or_fetch("ids", "z", Upstream("never"))
        await cache.get_or_fetch("tracks", "d", Upstream("never"))
        stats = cache.stats()
        encoded = msgspec.json.encode(stats)
        assert msgspec.json.decode(encoded, type=CacheStats) == stats
        as_dict = msgspec.json.decode(encoded)
        assert as_dict["store_errors"] == 0
        assert as_dict["namespaces"]["tracks"] == {
            "hits": 1,
            "misses": 4,
            "negative_hits": 0,
            "evictions": 2,
            "expirations": 0,
            "size": 2,
            "hit_rate": 0.2,
            "refreshes": 0,
            "refreshes_succeeded": 0,
            "refreshes_failed": 0,
            "stale_served": 0,
            "miss_burst": 1,
            "expiry_miss_burst": 0,
        }
        assert as_dict["namespaces"]["ids"]["negative_hits"] == 1
        assert as_dict["namespaces"]["ids"]["size"] == 1
        assert set(as_dict["namespaces"]) == set(cache.policy.namespaces)
        total = stats.total
        assert (total.hits, total.negative_hits, total.misses) == (1, 1, 5)
        assert (total.evictions, total.size) == (2, 3)
        assert total.hit_rate == pytest.approx(2 / 7)


async def test_a_hit_never_checkpoints() -> None:
    """A hit runs to completion even in a cancelled scope: no anyio call on the hit path."""
    async with open_cache() as cache:
        await cache.get_or_fetch("tracks", "t", Upstream("v"))
        await cache.get_or_fetch("ids", "bad", Upstream(MISSING))
        got = []
        with anyio.CancelScope() as scope:
            scope.cancel()
            got.append(await cache.get_or_fetch("tracks", "t", Upstream("never")))
            got.append(await cache.get_or_fetch("ids", "bad", Upstream("never")))
        assert not scope.cancelled_caught
        assert got == ["v", MISSING]


async def test_a_key_in_canonical_form_is_the_same_entry() -> None:
    params = {"seeds": ["b", "a"], "size": 20}
    fetch = Upstream("first", "second")
    async with open_cache() as cache:
        form = canonical(params)
        assert await cache.get_or_fetch_canonical("recommendations", form, fetch) == "first"
        # The same entry whichever way the key comes: no second fetch.
        assert await cache.get_or_fetch("recommendations", params, fetch) == "first"
        assert await cache.get_or_fetch_canonical("recommendations", form, fetch) == "first"
        assert fetch.calls == 1
        assert await cache.store.get(cache_key("recommendations", params)) is not None
