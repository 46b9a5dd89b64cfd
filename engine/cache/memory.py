"""A bounded in-process LRU store.

Every operation is O(1): an :class:`~collections.OrderedDict` in recency order, ``move_to_end``
on a read, ``popitem(last=False)`` to evict. The methods are ``async`` to satisfy
:class:`~engine.cache.store.Store` but never await anything: no checkpoint, no anyio call, so a
cache hit costs a dict lookup. Expiry is lazy (the facade drops an expired entry when it reads
one) plus a bounded purge on insert: at most :attr:`MemoryStore.purge_window` entries at the
least-recently-used end are examined and the expired ones dropped, before evicting a fresh one.
An ``observer`` sees every eviction (of an entry still fresh) as a ``CacheEvent``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from itertools import islice

from engine.cache.events import CacheEvent, CacheObserver
from engine.cache.keys import namespace_of
from engine.cache.store import Entry, NamespaceUsage
from engine.clock import Clock
from engine.config import ConfigError

__all__ = ["MemoryStore"]


class MemoryStore:
    """An LRU store of at most ``capacity`` entries; see the module docstring."""

    __slots__ = (
        "_capacity",
        "_clock",
        "_data",
        "_evictions",
        "_expired",
        "_observer",
        "_sizes",
        "purge_window",
    )

    def __init__(
        self,
        capacity: int = 5000,
        *,
        clock: Clock,
        purge_window: int = 4,
        observer: CacheObserver | None = None,
    ) -> None:
        if type(capacity) is not int or capacity < 1:
            raise ConfigError(f"MemoryStore.capacity: expected an int >= 1 (got {capacity!r})")
        if type(purge_window) is not int or purge_window < 0:
            raise ConfigError(
                f"MemoryStore.purge_window: expected an int >= 0 (got {purge_window!r})"
            )
        self._capacity = capacity
        self._clock = clock
        self.purge_window = purge_window
        self._data: OrderedDict[str, Entry] = OrderedDict()
        self._sizes: dict[str, int] = {}
        self._evictions: dict[str, int] = {}
        self._expired: dict[str, int] = {}
        self._observer = observer

    @property
    def capacity(self) -> int:
        return self._capacity

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def keys(self) -> list[str]:
        """Keys from least to most recently used."""
        return list(self._data)

    async def get(self, key: str) -> Entry | None:
        data = self._data
        entry = data.get(key)
        if entry is not None:
            data.move_to_end(key)
        return entry

    async def get_many(self, keys: Sequence[str]) -> list[Entry | None]:
        data = self._data
        found: list[Entry | None] = []
        for key in keys:
            entry = data.get(key)
            if entry is not None:
                data.move_to_end(key)
            found.append(entry)
        return found

    async def set(self, key: str, entry: Entry) -> None:
        data = self._data
        if key in data:
            data[key] = entry
            data.move_to_end(key)
            return
        self._purge()
        if len(data) >= self._capacity:
            evicted, old = data.popitem(last=False)
            if self._observer is not None:
                self._observer(CacheEvent(self._clock.wall(), "evict", evicted, old.expires_at))
            namespace = namespace_of(evicted)
            self._sizes[namespace] -= 1
            self._evictions[namespace] = self._evictions.get(namespace, 0) + 1
        data[key] = entry
        namespace = namespace_of(key)
        self._sizes[namespace] = self._sizes.get(namespace, 0) + 1

    async def delete(self, key: str) -> None:
        if self._data.pop(key, None) is not None:
            self._sizes[namespace_of(key)] -= 1

    async def delete_prefix(self, prefix: str) -> int:
        """Forget every key starting with ``prefix`` (O(size): every key is looked at); how many
        entries were held, expired or not."""
        data = self._data
        dropped = [key for key in data if key.startswith(prefix)]
        for key in dropped:
            del data[key]
            self._sizes[namespace_of(key)] -= 1
        return len(dropped)

    def _purge(self) -> None:
        if not self.purge_window or not self._data:
            return
        now = self._clock.wall()
        expired = [
            key
            for key, entry in islice(self._data.items(), self.purge_window)
            if not entry.fresh(now)
        ]
        for key in expired:
            del self._data[key]
            namespace = namespace_of(key)
            self._sizes[namespace] -= 1
            self._expired[namespace] = self._expired.get(namespace, 0) + 1

    def usage(self) -> dict[str, NamespaceUsage]:
        """Entries held, evictions and purged expired entries, per namespace."""
        namespaces = sorted(self._sizes.keys() | self._evictions.keys() | self._expired.keys())
        return {
            namespace: NamespaceUsage(
                size=self._sizes.get(namespace, 0),
                evictions=self._evictions.get(namespace, 0),
                expired=self._expired.get(namespace, 0),
            )
            for namespace in namespaces
        }

    def __repr__(self) -> str:
        return f"MemoryStore(capacity={self._capacity}, size={len(self._data)})"
