"""The cache facade: TTLs per namespace, negative caching, shared misses, graceful degradation.

Guarantees of :class:`Cache`:

- Freshness is judged here, against ``clock.wall()``: an entry is fresh while
  ``clock.wall() < entry.expires_at`` and stale from its expiry instant on. A stale entry counts
  as an expiration (and a miss) and is deleted, unless its namespace's ``stale_ttl`` still
  covers it (``clock.wall() < entry.expires_at + stale_ttl``): then it stays, for
  :meth:`Cache.stale` to serve, until the fetch overwrites it.
- Concurrent misses for one key share one fetch (:class:`~engine.singleflight.SingleFlight`,
  under the key's :class:`~engine.singleflight.CacheFlightKey`), whose result is stored with
  ``expires_at = clock.wall() + ttl`` read when the fetch returns.
  :data:`~engine.cache.store.MISSING` is stored, with the namespace's ``missing_ttl``, only if
  that namespace has one.
- Errors from a fetch are never cached; they reach every caller that shared the fetch.
- Cancelling a caller never leaves a partial entry: the fetch runs in the SingleFlight's task
  group, keeps running while other callers wait for it and is cancelled, storing nothing, when
  none is left.
- The store cannot fail a call: an exception from ``get``/``get_many`` is a miss, one from
  ``set``/``delete`` means not storing / not deleting. Each is counted in ``store_errors`` and
  logged (a warning at most once per ``warn_interval`` seconds, debug otherwise).
- A hit costs one ``await store.get(key)``, a clock read and a counter: no anyio call, no lock.
- An ``observer``, when given, sees every hit, every counted miss and every store as a
  :class:`~engine.cache.events.CacheEvent`: replays check TTL policies from them, and count
  the lookups (hits and misses) a workload made.

Refreshing ahead (per namespace, off by default: ``NamespaceTtl.refresh_ahead``, and its
``stale_ttl``; the decision is :func:`engine.cache.refresh.decide`):

- A hit near its value's expiry may start one background refresh of the key (XFetch: the
  nearer the expiry and the longer the key's last fetch took, the likelier), never in the first
  half of the value's life. The hit is answered at once; the refresh runs in ``background``
  (the engine's task group, so it never outlives the engine), under the key's
  ``CacheFlightKey`` in the same SingleFlight as misses (a refresh and a miss for one key are
  one fetch), with :data:`~engine.limits.priority.FETCH_PRIORITY` ``"background"``. At most one
  refresh per key runs at a time. A refresh that fails stores nothing: the old value stays
  until it expires. Only single-key lookups (``get_or_fetch``) refresh; a cache without
  ``background`` never does.
- A namespace that refreshes ahead and has a ``stale_ttl`` also serves a value expired less
  than ``stale_ttl`` ago while one refresh runs (the lookup starts it if none is running): the
  lookup counts as a miss (nothing fresh was found) and in ``stale_served``, and the observer
  sees a ``miss`` with the stale entry's expiry.
- The draws are a keyed hash of ``(seed, key, instant)``: a replay decides the same way on
  every run. A hit that may refresh costs one hash more; other hits cost what they did.
- With a :class:`~engine.shared.DistributedFlight`, a refresh is answered only by an entry
  newer than the one it replaces (:data:`~engine.singleflight.REFRESHING`): one instance
  refreshes a hot key for every instance.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable, Hashable, Iterable, Mapping
from typing import Any, TypeVar

import msgspec

from engine.cache.events import CacheEvent, CacheObserver
from engine.cache.keys import cache_key, canonical
from engine.cache.policy import NamespaceTtl, TtlPolicy
from engine.cache.refresh import Decision, decide, refresh_draw
from engine.cache.store import MISSING, DeletesPrefix, Entry, Missing, ReportsUsage, Store
from engine.clock import Clock
from engine.exception_groups import OwnedTaskGroup
from engine.limits.priority import FETCH_PRIORITY
from engine.singleflight import REFRESHING, CacheFlightKey, SingleFlight
from engine.throttled_log import ThrottledWarning

__all__ = ["Cache", "CacheStats", "NamespaceStats", "checked_ttl"]

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)

_LOG = logging.getLogger("engine.cache")

#: A value is never refreshed ahead in the first half of its life.
REFRESH_HORIZON = 0.5
#: Keys whose last fetch duration (XFetch's ``delta``) is remembered; older ones fall back to
#: their namespace's last fetch duration.
_DELTAS_KEPT = 10_000


def checked_ttl(ttl: object) -> float:
    """``ttl`` as a float if it is a per-call TTL override (finite seconds > 0); else
    :class:`ValueError` (:class:`TypeError` for a non-number)."""
    if isinstance(ttl, bool) or not isinstance(ttl, int | float):
        raise TypeError(f"ttl: expected seconds as an int or a float, got {ttl!r}")
    if not math.isfinite(ttl) or ttl <= 0:
        raise ValueError(f"ttl: expected finite seconds > 0, got {ttl!r}")
    return float(ttl)


class NamespaceStats(msgspec.Struct, frozen=True):
    hits: int
    """Lookups answered by a fresh entry holding a value."""
    misses: int
    """Lookups that found nothing fresh (a stale entry counts here and in ``expirations``)."""
    negative_hits: int
    """Lookups answered by a fresh "known missing" entry."""
    evictions: int
    """Entries the store dropped to make room (stores that report usage; else 0)."""
    expirations: int
    """Stale entries found by lookups, plus expired entries the store purged by itself."""
    size: int
    """Entries the store holds now (stores that report usage; else 0)."""
    hit_rate: float
    """``(hits + negative_hits) / lookups``; 0.0 before the first lookup."""
    refreshes: int = 0
    """Background refreshes started ahead of an expiry, or for a value served stale."""
    refreshes_succeeded: int = 0
    """Refreshes whose fetch returned (its value stored as a miss's would be)."""
    refreshes_failed: int = 0
    """Refreshes whose fetch raised: nothing stored, the old value kept until it expires."""
    stale_served: int = 0
    """Lookups answered by a value past its expiry (within ``stale_ttl``) while it was
    refreshed; also counted in ``misses``."""
    miss_burst: int = 0
    """The most callers that were on the miss path for one key at once (waiting for its fetch);
    the largest of any namespace in a total."""
    expiry_miss_burst: int = 0
    """``miss_burst`` counted only while the fetch replaces an expired value (a popular key's
    expiry, not its first fetch)."""


class CacheStats(msgspec.Struct, frozen=True):
    namespaces: dict[str, NamespaceStats]
    total: NamespaceStats
    store_errors: int
    """Store operations that raised (and were degraded to a miss or to not storing)."""


class _Namespace:
    """Per-namespace precomputed state and counters (kept off the Struct for speed)."""

    __slots__ = (
        "ahead",
        "delta",
        "expirations",
        "expiry_miss_burst",
        "hits",
        "horizon",
        "miss_burst",
        "misses",
        "missing_ttl",
        "name",
        "negative_hits",
        "prefix",
        "refresh_ahead",
        "refresh_stale_ttl",
        "refreshes",
        "refreshes_failed",
        "refreshes_succeeded",
        "stale_served",
        "stale_ttl",
        "ttl",
        "version",
    )

    def __init__(self, name: str, ttl: NamespaceTtl, version: int) -> None:
        self.name = name
        self.ttl = float(ttl.ttl)
        self.missing_ttl = None if ttl.missing_ttl is None else float(ttl.missing_ttl)
        stale_ttl = getattr(ttl, "stale_ttl", None)
        self.stale_ttl = None if stale_ttl is None else float(stale_ttl)
        self.refresh_ahead = None if ttl.refresh_ahead is None else float(ttl.refresh_ahead)
        # Served stale while a refresh runs: only where values are refreshed ahead.
        self.refresh_stale_ttl = (
            None if ttl.stale_ttl is None or self.refresh_ahead is None else float(ttl.stale_ttl)
        )
        self.ahead = self.refresh_ahead is not None
        self.horizon = self.ttl * REFRESH_HORIZON
        self.delta = 0.0  # the namespace's last fetch duration
        self.refreshes = 0
        self.refreshes_succeeded = 0
        self.refreshes_failed = 0
        self.stale_served = 0
        self.miss_burst = 0
        self.expiry_miss_burst = 0
        self.version = version
        self.prefix = cache_key(name, "", version)
        self.hits = 0
        self.misses = 0
        self.negative_hits = 0
        self.expirations = 0

    def key(self, key_or_params: Any) -> str:
        # cache_key(self.name, key_or_params, self.version) without re-checking the namespace.
        return self.prefix + canonical(key_or_params)


class Cache:
    """A TTL cache over a :class:`~engine.cache.store.Store`; see the module docstring.

    ``flights`` must be open (``async with SingleFlight() as flights``) while the cache fetches.
    ``version`` is the key version (bump it to abandon every entry of an older shape).
    ``background``, an open task group, runs refreshes ahead of expiry (none without it);
    ``seed`` keys their draws.
    """

    def __init__(
        self,
        store: Store,
        *,
        flights: SingleFlight,
        clock: Clock,
        policy: TtlPolicy | None = None,
        log: logging.Logger = _LOG,
        version: int = 1,
        warn_interval: float = 60.0,
        observer: CacheObserver | None = None,
        background: OwnedTaskGroup | None = None,
        seed: int = 0,
    ) -> None:
        self.store = store
        self.policy = policy if policy is not None else TtlPolicy()
        self._flights = flights
        self._clock = clock
        self._warn = ThrottledWarning(log, clock=clock, interval=warn_interval)
        self._store_errors = 0
        self._observer = observer
        self._version = version
        self._namespaces = {
            name: _Namespace(name, ttl, version) for name, ttl in self.policy.namespaces.items()
        }
        self._background = background
        self._seed = seed
        self._refreshing: set[str] = set()  # keys with a refresh started and not finished
        self._deltas: dict[str, float] = {}  # last fetch duration per key, oldest first
        self._miss_callers: dict[str, int] = {}  # callers on the miss path per key, now
        self._renewing: set[str] = set()  # keys whose miss flight replaces an expired value
        # Bound once: the hit path should not pay attribute lookups it can avoid.
        self._get = store.get
        self._wall = clock.wall

    # -- single keys --------------------------------------------------------------------------

    async def get_or_fetch(
        self,
        namespace: str,
        key: str | Mapping[str, Any],
        fetch: Callable[[], Awaitable[T | Missing]],
        *,
        ttl: float | None = None,
    ) -> T | Missing:
        """The cached value of ``key``, or ``await fetch()`` (shared by concurrent misses).

        Returns :data:`MISSING` when the fetch returns it or a fresh negative entry says so.
        Exceptions from ``fetch`` propagate and are not cached.

        ``ttl`` (finite seconds > 0, :class:`ValueError` otherwise) replaces the namespace's
        ``ttl`` for the value this call's fetch stores (and for a refresh ahead this call
        starts); a negative entry keeps the namespace's ``missing_ttl``. Concurrent misses share
        one fetch: the ``ttl`` of the caller whose fetch runs is the one used.
        """
        return await self.get_or_fetch_canonical(namespace, canonical(key), fetch, ttl=ttl)

    def check_namespace(self, namespace: str) -> None:
        """Check that ``namespace`` is served: :class:`UnknownNamespaceError` unless the policy
        declares it or its default covers it (what every lookup checks first)."""
        self._namespaces.get(namespace) or self._namespace(namespace)

    async def get_or_fetch_canonical(
        self,
        namespace: str,
        form: str,
        fetch: Callable[[], Awaitable[T | Missing]],
        *,
        ttl: float | None = None,
    ) -> T | Missing:
        """:meth:`get_or_fetch` for a key already in canonical form (``canonical(key)``), for a
        caller that needs the form too: the engine names the upstream call by it, and a key of
        parameters is encoded once."""
        if ttl is not None:
            ttl = checked_ttl(ttl)
        ns = self._namespaces.get(namespace) or self._namespace(namespace)
        full_key = ns.prefix + form
        try:
            entry = await self._get(full_key)
        except Exception as exc:
            self._store_failed("get", full_key, exc)
            entry = None
        stale_expiry = 0.0
        if entry is not None:
            now = self._wall()
            if ns.ahead and not entry.missing:
                decision = self._decide(ns, full_key, entry, now, ttl)
                if decision == "stale":
                    ns.misses += 1
                    ns.stale_served += 1
                    if self._observer is not None:
                        self._observer(CacheEvent(now, "miss", full_key, entry.expires_at))
                    self._start_refresh(ns, full_key, fetch, entry.expires_at, ttl)
                    return entry.value  # type: ignore[no-any-return]
                if decision == "refresh":
                    self._start_refresh(ns, full_key, fetch, entry.expires_at, ttl)
            if entry.fresh(now):
                if self._observer is not None:
                    self._observer(CacheEvent(now, "hit", full_key, entry.expires_at))
                if entry.missing:
                    ns.negative_hits += 1
                    return MISSING
                ns.hits += 1
                return entry.value  # type: ignore[no-any-return]
            ns.expirations += 1
            stale_expiry = entry.expires_at
            if ns.stale_ttl is None or now >= entry.expires_at + ns.stale_ttl:
                await self._delete(full_key)
        ns.misses += 1
        if self._observer is not None:
            self._observer(CacheEvent(self._wall(), "miss", full_key, stale_expiry))
        callers = self._miss_callers
        waiting = callers.get(full_key, 0) + 1
        callers[full_key] = waiting
        if waiting > ns.miss_burst:
            ns.miss_burst = waiting
        if stale_expiry:
            self._renewing.add(full_key)
        if waiting > ns.expiry_miss_burst and full_key in self._renewing:
            ns.expiry_miss_burst = waiting
        try:
            return await self._flights.do(
                CacheFlightKey(full_key), lambda: self._fetch(ns, full_key, fetch, ttl=ttl)
            )
        finally:
            waiting = callers[full_key] - 1
            if waiting:
                callers[full_key] = waiting
            else:
                del callers[full_key]
                self._renewing.discard(full_key)

    # -- refreshing ahead ---------------------------------------------------------------------

    def _decide(
        self, ns: _Namespace, full_key: str, entry: Entry, now: float, ttl: float | None = None
    ) -> Decision:
        """:func:`~engine.cache.refresh.decide` for this entry; the draw is hashed only inside
        the refresh horizon (outside it the answer is ``hit`` whatever the draw). A per-call
        ``ttl`` sets the horizon (half of it) in place of the namespace's."""
        background = self._background
        expires_at = entry.expires_at
        if background is None or not background.is_open:
            return "hit" if now < expires_at else "miss"
        horizon = ns.horizon if ttl is None else ttl * REFRESH_HORIZON
        if now < expires_at and expires_at - now > horizon:
            return "hit"
        return decide(
            now,
            expires_at,
            delta=self._deltas.get(full_key, ns.delta),
            beta=ns.refresh_ahead,
            stale_ttl=ns.refresh_stale_ttl,
            draw=refresh_draw(self._seed, full_key, now),
            horizon=horizon,
        )

    def _start_refresh(
        self,
        ns: _Namespace,
        full_key: str,
        fetch: Callable[[], Awaitable[Any]],
        replaces: float,
        ttl: float | None = None,
    ) -> None:
        background = self._background
        if full_key in self._refreshing or background is None or not background.is_open:
            return
        self._refreshing.add(full_key)
        ns.refreshes += 1
        background.start_soon(self._refresh, ns, full_key, fetch, replaces, ttl)

    async def _refresh(
        self,
        ns: _Namespace,
        full_key: str,
        fetch: Callable[[], Awaitable[Any]],
        replaces: float,
        ttl: float | None = None,
    ) -> None:
        # This task is the refresh's own: the flight it starts copies the variable.
        REFRESHING.set(replaces)
        try:
            await self._flights.do(
                CacheFlightKey(full_key),
                lambda: self._fetch(ns, full_key, fetch, background=True, ttl=ttl),
            )
        except Exception as exc:
            ns.refreshes_failed += 1
            _LOG.debug("background refresh of %s failed, keeping its value: %r", full_key, exc)
        else:
            ns.refreshes_succeeded += 1
        finally:
            self._refreshing.discard(full_key)

    async def _fetch(
        self,
        ns: _Namespace,
        full_key: str,
        fetch: Callable[[], Awaitable[T | Missing]],
        *,
        background: bool = False,
        ttl: float | None = None,
    ) -> T | Missing:
        # Runs in the flight's own task: the priority set here is this fetch's, nobody else's.
        token = FETCH_PRIORITY.set("background") if background else None
        try:
            if ns.refresh_ahead is None:
                value = await fetch()
            else:
                started = self._clock.monotonic()
                value = await fetch()
                self._remember_delta(ns, full_key, self._clock.monotonic() - started)
        finally:
            if token is not None:
                FETCH_PRIORITY.reset(token)
        if value is MISSING:
            if ns.missing_ttl is not None:
                await self._set(full_key, Entry(None, self._wall() + ns.missing_ttl, True))
        else:
            await self._set(full_key, Entry(value, self._wall() + (ns.ttl if ttl is None else ttl)))
        return value

    async def stale(self, namespace: str, key: str | Mapping[str, Any]) -> tuple[Any] | None:
        """``(value,)`` of an entry past its expiry by less than the namespace's ``stale_ttl``
        (the value, or :data:`MISSING` for a negative entry), else ``None``; for a caller that
        could not fetch (an open circuit). Counts nothing and reports no event: the lookup
        that came first was counted as a miss."""
        ns = self._namespaces.get(namespace) or self._namespace(namespace)
        if ns.stale_ttl is None:
            return None
        full_key = ns.key(key)
        try:
            entry = await self._get(full_key)
        except Exception as exc:
            self._store_failed("get", full_key, exc)
            return None
        if entry is None:
            return None
        now = self._wall()
        if entry.fresh(now) or now >= entry.expires_at + ns.stale_ttl:
            return None  # fresh (stored meanwhile: not stale) or too old
        return (MISSING if entry.missing else entry.value,)

    def _remember_delta(self, ns: _Namespace, full_key: str, delta: float) -> None:
        ns.delta = delta
        deltas = self._deltas
        deltas.pop(full_key, None)
        deltas[full_key] = delta
        if len(deltas) > _DELTAS_KEPT:
            del deltas[next(iter(deltas))]

    # -- batches ------------------------------------------------------------------------------

    async def lookup_many(
        self, namespace: str, keys: Iterable[K], *, count: bool = True
    ) -> dict[K, Any]:
        """The fresh entries among ``keys``, in one ``get_many``: ``{key: value or MISSING}``.

        Keys absent from the result are misses: fetch them and :meth:`store_many` the results.
        Keys must be hashable (plain IDs). Stale entries are counted but not deleted here (the
        ``store_many`` that follows overwrites them; the store's bound collects the rest).
        ``count=False`` leaves the hit and miss counters alone: a poller waiting for another
        instance's results looks many times for one lookup (the observer still sees what is
        served, but no miss).
        """
        ns = self._namespace(namespace)
        wanted = list(dict.fromkeys(keys))
        if not wanted:
            return {}
        full_keys = [ns.key(key) for key in wanted]
        try:
            entries = await self.store.get_many(full_keys)
        except Exception as exc:
            self._store_failed("get_many", f"{len(full_keys)} keys in {namespace}", exc)
            if count:
                ns.misses += len(wanted)
                if self._observer is not None:
                    now = self._wall()
                    for full_key in full_keys:
                        self._observer(CacheEvent(now, "miss", full_key, 0.0))
            return {}
        now = self._wall()
        observer = self._observer
        # Misses are needs only when counted: a poller's repeated looks are not lookups.
        miss_observer = observer if count else None
        found: dict[K, Any] = {}
        misses = expirations = negative_hits = hits = 0
        for key, full_key, entry in zip(wanted, full_keys, entries, strict=True):
            if entry is None:
                misses += 1
                if miss_observer is not None:
                    miss_observer(CacheEvent(now, "miss", full_key, 0.0))
                continue
            if not entry.fresh(now):
                expirations += 1
                misses += 1
                if miss_observer is not None:
                    miss_observer(CacheEvent(now, "miss", full_key, entry.expires_at))
                continue
            if observer is not None:
                observer(CacheEvent(now, "hit", full_key, entry.expires_at))
            if entry.missing:
                negative_hits += 1
                found[key] = MISSING
            else:
                hits += 1
                found[key] = entry.value
        if count:
            ns.misses += misses
            ns.expirations += expirations
            ns.negative_hits += negative_hits
            ns.hits += hits
        return found

    async def store_many(self, namespace: str, values: Mapping[Any, Any]) -> None:
        """Store one entry per key: a value, or :data:`MISSING` (kept if there is a missing_ttl)."""
        ns = self._namespace(namespace)
        now = self._wall()
        for key, value in values.items():
            if value is MISSING:
                if ns.missing_ttl is None:
                    continue
                entry = Entry(None, now + ns.missing_ttl, True)
            else:
                entry = Entry(value, now + ns.ttl)
            await self._set(ns.key(key), entry)

    # -- invalidation -------------------------------------------------------------------------

    async def invalidate(self, namespace: str, key: str | Mapping[str, Any]) -> bool:
        """Forget ``key``'s entry; whether the store held one (fresh or not).

        One ``get`` then one ``delete``. Unlike lookups, a store error here propagates (and is
        counted in ``store_errors``): an invalidation that did not happen must not look done. A
        fetch already running for the key still stores its result when it returns; a
        :class:`~engine.shared.TieredStore` forgets the key in this instance's memory and in the
        shared tier, not in other instances' memory tiers."""
        ns = self._namespace(namespace)
        full_key = ns.key(key)
        try:
            held = await self.store.get(full_key) is not None
            await self.store.delete(full_key)
        except Exception as exc:
            self._store_failed("invalidate", full_key, exc)
            raise
        return held

    async def clear(self, namespace: str) -> int | None:
        """Forget every entry of ``namespace`` (of this cache's key version); how many the store
        dropped, or ``None`` where it cannot count. The store must offer
        :class:`~engine.cache.store.DeletesPrefix` (:class:`TypeError` otherwise); store errors
        propagate, as in :meth:`invalidate`."""
        ns = self._namespace(namespace)
        store = self.store
        if not isinstance(store, DeletesPrefix):
            raise TypeError(
                f"{type(store).__name__} cannot clear a namespace: it has no delete_prefix()"
            )
        try:
            return await store.delete_prefix(ns.prefix)
        except Exception as exc:
            self._store_failed("clear", ns.prefix + "*", exc)
            raise

    # -- stats --------------------------------------------------------------------------------

    def stats(self) -> CacheStats:
        usage = self.store.usage() if isinstance(self.store, ReportsUsage) else {}
        namespaces: dict[str, NamespaceStats] = {}
        for name, ns in self._namespaces.items():
            held = usage.get(name)
            namespaces[name] = _namespace_stats(
                hits=ns.hits,
                misses=ns.misses,
                negative_hits=ns.negative_hits,
                evictions=held.evictions if held else 0,
                expirations=ns.expirations + (held.expired if held else 0),
                size=held.size if held else 0,
                refreshes=ns.refreshes,
                refreshes_succeeded=ns.refreshes_succeeded,
                refreshes_failed=ns.refreshes_failed,
                stale_served=ns.stale_served,
                miss_burst=ns.miss_burst,
                expiry_miss_burst=ns.expiry_miss_burst,
            )
        total = _namespace_stats(
            **{field: sum(getattr(s, field) for s in namespaces.values()) for field in _SUMMED},
            miss_burst=max((s.miss_burst for s in namespaces.values()), default=0),
            expiry_miss_burst=max((s.expiry_miss_burst for s in namespaces.values()), default=0),
        )
        return CacheStats(namespaces=namespaces, total=total, store_errors=self._store_errors)

    # -- store access that cannot fail --------------------------------------------------------

    def _namespace(self, namespace: str) -> _Namespace:
        try:
            return self._namespaces[namespace]
        except (KeyError, TypeError):
            # Raises UnknownNamespaceError unless the policy's default covers the name; a
            # covered name is served (and counted in the stats) from now on.
            ttl = self.policy.for_namespace(namespace)
            ns = self._namespaces[namespace] = _Namespace(namespace, ttl, self._version)
            return ns

    async def _set(self, full_key: str, entry: Entry) -> None:
        try:
            await self.store.set(full_key, entry)
        except Exception as exc:
            self._store_failed("set", full_key, exc)
            return
        if self._observer is not None:
            self._observer(CacheEvent(self._wall(), "store", full_key, entry.expires_at))

    async def _delete(self, full_key: str) -> None:
        try:
            await self.store.delete(full_key)
        except Exception as exc:
            self._store_failed("delete", full_key, exc)

    def _store_failed(self, operation: str, what: str, exc: Exception) -> None:
        self._store_errors += 1
        self._warn(
            "cache store %s failed for %s, degrading to no cache: %r (%d store errors so far)",
            operation,
            what,
            exc,
            self._store_errors,
        )

    def __repr__(self) -> str:
        lookups = sum(ns.hits + ns.misses + ns.negative_hits for ns in self._namespaces.values())
        return (
            f"<Cache [{self.store!r} | namespaces: {', '.join(self._namespaces)} | "
            f"lookups: {lookups}, store errors: {self._store_errors}]>"
        )


_SUMMED = (
    "hits",
    "misses",
    "negative_hits",
    "evictions",
    "expirations",
    "size",
    "refreshes",
    "refreshes_succeeded",
    "refreshes_failed",
    "stale_served",
)


def _namespace_stats(
    *,
    hits: int,
    misses: int,
    negative_hits: int,
    evictions: int,
    expirations: int,
    size: int,
    refreshes: int = 0,
    refreshes_succeeded: int = 0,
    refreshes_failed: int = 0,
    stale_served: int = 0,
    miss_burst: int = 0,
    expiry_miss_burst: int = 0,
) -> NamespaceStats:
    lookups = hits + misses + negative_hits
    return NamespaceStats(
        hits=hits,
        misses=misses,
        negative_hits=negative_hits,
        evictions=evictions,
        expirations=expirations,
        size=size,
        hit_rate=(hits + negative_hits) / lookups if lookups else 0.0,
        refreshes=refreshes,
        refreshes_succeeded=refreshes_succeeded,
        refreshes_failed=refreshes_failed,
        stale_served=stale_served,
        miss_burst=miss_burst,
        expiry_miss_burst=expiry_miss_burst,
    )
