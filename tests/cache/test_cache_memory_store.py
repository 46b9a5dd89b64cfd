from __future__ import annotations

import anyio
import pytest

from engine.cache import Entry, MemoryStore, NamespaceUsage, ReportsUsage, Store, cache_key
from engine.clock import VirtualClock
from engine.config import ConfigError

pytestmark = pytest.mark.anyio

FAR = 1e18  # an expiry that never comes


def k(key: str, namespace: str = "tracks") -> str:
    return cache_key(namespace, key)


def fresh(value: object) -> Entry:
    return Entry(value, FAR)


def test_is_a_store() -> None:
    store = MemoryStore(clock=VirtualClock())
    assert isinstance(store, Store)
    assert isinstance(store, ReportsUsage)
    assert store.capacity == 5000


@pytest.mark.parametrize("capacity", [0, -1, 2.0, True])
def test_capacity_is_validated(capacity: object) -> None:
    with pytest.raises(ConfigError, match=r"MemoryStore\.capacity"):
        MemoryStore(capacity, clock=VirtualClock())  # type: ignore[arg-type]


async def test_lru_order_and_bound() -> None:
    store = MemoryStore(3, clock=VirtualClock())
    for name in "abc":
        await store.set(k(name), fresh(name))
    assert store.keys() == [k("a"), k("b"), k("c")]
    assert (await store.get(k("a"))) == fresh("a")  # a read makes "a" most recent
    assert store.keys() == [k("b"), k("c"), k("a")]
    await store.set(k("d"), fresh("d"))  # evicts the least recently used: "b"
    assert store.keys() == [k("c"), k("a"), k("d")]
    assert await store.get(k("b")) is None
    await store.set(k("c"), fresh("c2"))  # overwriting refreshes recency, evicts nothing
    assert store.keys() == [k("a"), k("d"), k("c")]
    assert (await store.get(k("c"))).value == "c2"  # type: ignore[union-attr]
    assert len(store) == 3
    for i in range(100):
        await store.set(k(f"x{i}"), fresh(i))
        assert len(store) <= 3
    assert store.keys() == [k("x97"), k("x98"), k("x99")]


async def test_get_many_keeps_order_and_refreshes_recency() -> None:
    store = MemoryStore(3, clock=VirtualClock())
    for name in "abc":
        await store.set(k(name), fresh(name))
    got = await store.get_many([k("b"), k("zz"), k("a")])
    assert [e.value if e else None for e in got] == ["b", None, "a"]
    assert store.keys() == [k("c"), k("b"), k("a")]


async def test_sizes_and_evictions_per_namespace() -> None:
    store = MemoryStore(4, clock=VirtualClock())
    await store.set(k("a", "ids"), fresh(1))
    await store.set(k("b", "ids"), fresh(2))
    await store.set(k("a", "tracks"), fresh(3))
    await store.set(k("b", "tracks"), fresh(4))
    await store.set(k("a", "seeds"), fresh(5))  # evicts ids:a
    await store.set(k("b", "seeds"), fresh(6))  # evicts ids:b
    await store.get(k("a", "tracks"))
    await store.set(k("c", "seeds"), fresh(7))  # evicts tracks:b (tracks:a was just read)
    assert store.usage() == {
        "ids": NamespaceUsage(size=0, evictions=2),
        "seeds": NamespaceUsage(size=3, evictions=0),
        "tracks": NamespaceUsage(size=1, evictions=1),
    }
    await store.delete(k("a", "tracks"))
    await store.delete(k("a", "tracks"))  # absent: no error, no double count
    assert store.usage()["tracks"] == NamespaceUsage(size=0, evictions=1)
    assert len(store) == 3


async def test_get_does_not_judge_freshness() -> None:
    clock = VirtualClock()
    store = MemoryStore(10, clock=clock)
    stale = Entry("old", clock.wall() - 1)
    await store.set(k("a"), stale)
    assert await store.get(k("a")) == stale
    assert await store.get_many([k("a")]) == [stale]


async def test_insert_purges_expired_entries_at_the_lru_end() -> None:
    clock = VirtualClock()
    store = MemoryStore(4, clock=clock, purge_window=2)
    now = clock.wall()
    await store.set(k("a"), Entry("a", now + 10))
    await store.set(k("b", "ids"), Entry("b", now + 10))
    await store.set(k("c"), Entry("c", now + 10))
    await store.set(k("d"), Entry("d", now + 1000))
    await anyio.sleep(10)  # a, b and c expire exactly now
    await store.set(k("e"), fresh("e"))
    # Only the two entries at the LRU end are looked at: a and b go, c stays; nothing evicted.
    assert store.keys() == [k("c"), k("d"), k("e")]
    usage = store.usage()
    assert usage["tracks"] == NamespaceUsage(size=3, evictions=0, expired=1)
    assert usage["ids"] == NamespaceUsage(size=0, evictions=0, expired=1)


async def test_purge_keeps_fresh_entries_and_can_be_disabled() -> None:
    clock = VirtualClock()
    store = MemoryStore(2, clock=clock, purge_window=0)
    await store.set(k("a"), Entry("a", clock.wall() + 1))
    await store.set(k("b"), fresh("b"))
    await anyio.sleep(1)
    await store.set(k("c"), fresh("c"))  # no purge: "a" leaves as an eviction
    assert store.usage()["tracks"] == NamespaceUsage(size=2, evictions=1, expired=0)

    store = MemoryStore(2, clock=clock)
    await store.set(k("a"), Entry("a", clock.wall() + 1))
    await store.set(k("b"), fresh("b"))
    await store.set(k("c"), fresh("c"))  # "a" is still fresh: evicted, not purged
    assert store.usage()["tracks"] == NamespaceUsage(size=2, evictions=1, expired=0)


async def test_methods_never_checkpoint() -> None:
    """Even inside a cancelled scope, every call completes: none of them awaits anything."""
    store = MemoryStore(2, clock=VirtualClock())
    done = []
    with anyio.CancelScope() as scope:
        scope.cancel()
        await store.set(k("a"), fresh("a"))
        done.append(await store.get(k("a")))
        done.append(await store.get_many([k("a"), k("b")]))
        await store.set(k("b"), fresh("b"))
        await store.set(k("c"), fresh("c"))
        await store.delete(k("b"))
        done.append(store.keys())
    assert not scope.cancelled_caught
    assert done == [fresh("a"), [fresh("a"), None], [k("c")]]
