"""The engine: every optimisation composed around one upstream call.

``await engine.cached(namespace, key, fetch)`` is: a cache lookup; on a miss, one shared
execution per key (singleflight); inside it, attempts with retries, each attempt passing the
rate limiter and then the bulkhead, under a per-attempt deadline. A 429 pauses the shared rate
limiter for its Retry-After, so every caller slows down, not just the one that was told.
"""

from __future__ import annotations

import functools
import inspect
import math
import os
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import Any, ParamSpec, Protocol, Self, TypeVar, runtime_checkable

import anyio
import anyio.lowlevel
import msgspec

from engine.breaker import BreakerConfig, BreakerStats, CircuitBreakers, CircuitOpen
from engine.cache import Cache, CacheConfig, CacheStats, MemoryStore, Missing, Store, canonical
from engine.cache.events import CacheObserver
from engine.cache.facade import checked_ttl
from engine.clock import Clock, SystemClock
from engine.config import Config, ConfigError, Positive
from engine.exception_groups import OwnedTaskGroup
from engine.limits import (
    ConcurrencyConfig,
    ConcurrencyLimiter,
    ConcurrencyStats,
    RateLimitConfig,
    RateLimiter,
    RateLimiterStats,
    UpstreamGate,
)
from engine.limits.priority import Priority
from engine.limits.protocol import RateLimiting
from engine.retry import RateLimited, Retryable, RetryConfig, RetryPolicy, retrying
from engine.shared.backend import SharedBackend
from engine.shared.codec import TypeRegistry
from engine.shared.config import SharedTierConfig
from engine.shared.flight import DistributedFlight
from engine.shared.limiter import RedisRateLimiter
from engine.shared.store import RedisStore, RedisStoreStats
from engine.shared.tiered import TieredStore, TieredStoreStats
from engine.singleflight import SingleFlight, SingleFlightStats
from engine.virtual import loop_time

__all__ = [
    "Engine",
    "EngineConfig",
    "EngineStats",
    "FrontsStore",
    "ReportsStats",
    "UpstreamTimeout",
]

T = TypeVar("T")
P = ParamSpec("P")
R = TypeVar("R")


def _arguments_key(signature: inspect.Signature, args: Any, kwargs: Any) -> str:
    """The default key of a :meth:`Engine.cached_fn` call: its arguments bound to the
    function's signature, defaults applied (``f(1, b=2)`` and ``f(1, 2)`` are one key), as JSON
    ``{"args": [...], "kwargs": {...}}`` (order kept in sequences, mapping keys sorted)."""
    bound = signature.bind(*args, **kwargs)
    bound.apply_defaults()
    try:
        return msgspec.json.encode(
            {"args": list(bound.args), "kwargs": bound.kwargs}, order="sorted"
        ).decode()
    except (TypeError, msgspec.EncodeError) as exc:
        raise TypeError(
            f"cached_fn: the arguments have no canonical form ({exc}); pass key= (a callable of "
            "the function's arguments returning a str or a mapping)"
        ) from None


class UpstreamTimeout(Retryable, TimeoutError):
    """An attempt took longer than ``EngineConfig.attempt_timeout``."""


class EngineConfig(Config):
    """Everything the engine does.

    The engine knows no upstream, so the upstream's limits have no default: ``rate`` and
    ``concurrency`` must be given before an :class:`Engine` runs (``rate`` may be left out when
    the engine is handed a ``rate_limiter``), and the cache serves only the namespaces it
    declares (see :class:`~engine.CacheConfig`). A layer built for one upstream fills in its
    own (the RecoBeat client's configuration does). Retries and the attempt deadline have
    general-purpose defaults.
    """

    rate: RateLimitConfig | None = None
    """The upstream's rate limit; required unless the engine is given a ``rate_limiter``."""
    concurrency: ConcurrencyConfig | None = None
    """The bulkhead: requests in flight at once; required."""
    cache: CacheConfig = msgspec.field(default_factory=CacheConfig)
    retry: RetryConfig = msgspec.field(default_factory=RetryConfig)
    attempt_timeout: Positive = 30.0
    """Deadline of one attempt, enforced with ``anyio.fail_after`` (in-process transports
    ignore httpx's own timeouts, and virtual time needs the deadline on the engine clock)."""
    breaker: BreakerConfig | None = None
    """A circuit breaker per endpoint (:mod:`engine.breaker`); ``None`` (the default): none."""


class EngineStats(msgspec.Struct, frozen=True):
    upstream_attempts: int
    """Attempts that passed the gate and went upstream."""
    rate_limited: int
    """Attempts answered 429."""
    retries: dict[str, int]
    """Retries by the error type that caused them."""
    failures: int
    """Upstream calls that failed after their last attempt."""
    rate: RateLimiterStats
    concurrency: ConcurrencyStats
    flights: SingleFlightStats
    cache: CacheStats
    tiers: TieredStoreStats | None = None
    """Memory and shared-tier hits, shared-tier errors and fallbacks (a ``TieredStore``)."""
    shared_store: RedisStoreStats | None = None
    """The shared (Redis) tier: hits, misses, corrupt values, errors, round-trip latency."""
    failure_seconds: float = 0.0
    """Seconds the failed upstream calls took, from the call to its error, summed (over
    ``failures``: the mean time to fail, retries included, or failing fast)."""
    breakers: dict[str, BreakerStats] = msgspec.field(default_factory=dict)
    """Each endpoint's circuit, by endpoint name (empty without ``EngineConfig.breaker``)."""


@runtime_checkable
class ReportsStats(Protocol):
    """A store that counts its own work. :meth:`Engine.stats` reports what it returns by type:
    a :class:`~engine.shared.TieredStoreStats` as ``tiers``, a
    :class:`~engine.shared.RedisStoreStats` as ``shared_store`` (other reports are not part of
    :class:`EngineStats`)."""

    def stats(self) -> msgspec.Struct: ...


@runtime_checkable
class FrontsStore(Protocol):
    """A store in front of another (a memory tier in front of the ``shared`` one): the stats of
    both are reported."""

    @property
    def shared(self) -> Store: ...


def _store_reports(store: Store) -> list[msgspec.Struct]:
    """What ``store``, and the store it fronts, report about themselves."""
    stores: list[object] = [store]
    if isinstance(store, FrontsStore):
        stores.append(store.shared)
    return [each.stats() for each in stores if isinstance(each, ReportsStats)]


def checked_quiet(quiet: object) -> float:
    """``quiet`` as the seconds :meth:`Engine.until_quiet` waits for (finite, >= 0); else
    :class:`ValueError` naming it."""
    if isinstance(quiet, bool) or not isinstance(quiet, int | float) or not quiet >= 0:
        raise ValueError(f"quiet: expected seconds >= 0, got {quiet!r}")
    if not math.isfinite(quiet):
        raise ValueError(f"quiet: expected finite seconds, got {quiet!r}")
    return float(quiet)


class Engine:
    """Owns the limits, the singleflight, the cache and their task group.

    Use it as an async context manager; no task outlives the ``async with`` block. ``seed``, a
    random seed, fixes retry jitter (pass one in replays; by default it is random per process).
    Several engines share one budget by sharing ``rate_limiter``, and one cache by sharing
    ``store``; ``observer`` sees the cache's hits, stores and evictions. Across processes, pass the
    :mod:`engine.shared` pieces: a ``RedisRateLimiter``, a ``TieredStore`` and, as ``flights``,
    a ``DistributedFlight`` (so that one instance fetches a key the others missed too).

    Namespaces with ``refresh_ahead`` are refreshed shortly before they expire in the engine's
    background task group (closed first when the block ends). A refresh's fetch runs with
    :func:`engine.limits.priority.fetch_priority` ``"background"`` (a miss's: ``"interactive"``),
    readable in :meth:`upstream` and the fetch. With ``RateLimitConfig.background_share`` the
    rate limiter's line puts such background requests behind interactive ones, within a
    bounded share (:mod:`engine.limits.priority`); without it, both go through one line.
    """

    def __init__(
        self,
        config: EngineConfig,
        *,
        clock: Clock | None = None,
        store: Store | None = None,
        seed: int | None = None,
        rate_limiter: RateLimiting | None = None,
        observer: CacheObserver | None = None,
        flights: SingleFlight | None = None,
    ) -> None:
        if rate_limiter is None and config.rate is None:
            raise ConfigError(
                "EngineConfig.rate: required, the upstream's rate limit (e.g. rules = "
                "[{limit = 80, window = 60}], min_interval = 0.75), unless a rate_limiter is given"
            )
        if config.concurrency is None:
            raise ConfigError(
                "EngineConfig.concurrency: required, the most upstream requests in flight at "
                "once (e.g. limit = 6)"
            )
        self.config = config
        self._concurrency = config.concurrency
        self.clock = clock if clock is not None else SystemClock()
        self._store = store
        self.seed = seed if seed is not None else int.from_bytes(os.urandom(8), "big")
        self.retry = RetryPolicy(self.config.retry)
        self.rate: RateLimiting = (
            rate_limiter
            if rate_limiter is not None
            else RateLimiter(self.config.rate, clock=self.clock)  # type: ignore[arg-type]
        )
        self._observer = observer
        self.flights = flights if flights is not None else SingleFlight()
        self._background = OwnedTaskGroup("this engine's background refreshes")
        self._gate: UpstreamGate | None = None
        self._cache: Cache | None = None
        self._attempts = 0
        self._rate_limited = 0
        self._retries: dict[str, int] = {}
        self._failures = 0
        self._failure_seconds = 0.0
        self.breakers: CircuitBreakers | None = (
            None if config.breaker is None else CircuitBreakers(config.breaker, clock=self.clock)
        )

    @classmethod
    def sharing(
        cls,
        backend: SharedBackend,
        config: EngineConfig,
        *,
        registry: TypeRegistry | None = None,
        clock: Clock | None = None,
        seed: int | None = None,
        settings: SharedTierConfig | None = None,
    ) -> Engine:
        """An engine that shares its cache, its rate budget and its fetches in flight with
        every other engine on ``backend`` (a Redis: :class:`engine.redis.CoredisBackend`, or
        :class:`engine.redis.RedisPyBackend` on an application's own redis-py pool):
        its own LRU in front of a :class:`~engine.shared.RedisStore` (a
        :class:`~engine.shared.TieredStore`), a :class:`~engine.shared.RedisRateLimiter` on
        ``config.rate``, and a :class:`~engine.shared.DistributedFlight` (one instance fetches
        a key the others missed too). ``registry`` names the types the shared cache may decode
        (nothing is unpickled); ``settings``, the tier's key prefix and fallbacks. The engine
        does not own ``backend``: close it after the engine."""
        if config.rate is None:
            raise ConfigError("EngineConfig.rate: required to share a rate budget")
        clock = clock if clock is not None else SystemClock()
        settings = settings if settings is not None else SharedTierConfig()
        store = TieredStore(
            MemoryStore(capacity=config.cache.capacity, clock=clock),
            RedisStore(backend, clock=clock, registry=registry, config=settings),
            clock=clock,
            config=settings,
        )
        return cls(
            config,
            clock=clock,
            store=store,
            seed=seed,
            rate_limiter=RedisRateLimiter(backend, config.rate, clock=clock, settings=settings),
            flights=DistributedFlight(backend, store, clock=clock, settings=settings),
        )

    async def __aenter__(self) -> Self:
        # The bulkhead and cache need a running event loop; the flights' task group opens here.
        self._gate = UpstreamGate(self.rate, ConcurrencyLimiter(self._concurrency))
        store = self._store
        if store is None:
            store = MemoryStore(
                capacity=self.config.cache.capacity, clock=self.clock, observer=self._observer
            )
        self._cache = Cache(
            store,
            flights=self.flights,
            clock=self.clock,
            policy=self.config.cache.policy,
            observer=self._observer,
            background=self._background,
            seed=self.seed,
        )
        await self.flights.__aenter__()
        try:
            await self._background.open()
        except BaseException:
            await self.flights.__aexit__(None, None, None)
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        # Refreshes first: they wait on flights, which then have nobody left to wait for.
        try:
            await self._background.close(exc_type, exc, tb)
        finally:
            result = await self.flights.__aexit__(exc_type, exc, tb)
        return result

    @property
    def cache(self) -> Cache:
        if self._cache is None:
            raise RuntimeError("the engine is not open: use it in `async with`")
        return self._cache

    @property
    def gate(self) -> UpstreamGate:
        if self._gate is None:
            raise RuntimeError("the engine is not open: use it in `async with`")
        return self._gate

    def __repr__(self) -> str:
        parts = [repr(self.rate)]
        if self._gate is None or self._cache is None:
            parts.insert(0, "not entered")
        else:
            parts += [repr(self._gate.concurrency), repr(self._cache)]
        parts.append(repr(self.flights))
        if self.breakers is not None:
            parts.append(repr(self.breakers))
        parts.append(
            f"attempts: {self._attempts}, 429s: {self._rate_limited}, "
            f"retries: {sum(self._retries.values())}, failures: {self._failures}"
        )
        return f"<Engine [{' | '.join(parts)}]>"

    async def cached(
        self,
        namespace: str,
        key: str | Mapping[str, Any],
        fetch: Callable[[], Awaitable[T | Missing]],
        *,
        endpoint: str | None = None,
        ttl: float | None = None,
    ) -> T | Missing:
        """The cached value, or one deduplicated, limited, retried :meth:`upstream` call.

        ``ttl`` (finite seconds > 0; :class:`ValueError` otherwise) replaces the namespace's
        ``ttl`` for the value this call stores (:meth:`Cache.get_or_fetch`).

        While ``endpoint``'s circuit is open (:class:`~engine.breaker.CircuitOpen`), a value
        past its expiry by less than the namespace's ``stale_ttl`` is served instead of the
        error (and counted in the breaker's ``stale_answers``)."""
        cache = self.cache
        # The checks get_or_fetch makes first, then the key's encoding (once: the cache key and
        # the upstream call's name share it).
        if ttl is not None:
            ttl = checked_ttl(ttl)
        cache.check_namespace(namespace)
        form = canonical(key)
        try:
            return await cache.get_or_fetch_canonical(
                namespace,
                form,
                lambda: self.upstream(f"{namespace}:{form}", fetch, endpoint=endpoint),
                ttl=ttl,
            )
        except CircuitOpen:
            if self.breakers is None:
                raise
            stale = await cache.stale(namespace, key)
            if stale is None:
                raise
            self.breakers.stale_answer(endpoint)
            return stale[0]  # type: ignore[no-any-return]

    def cached_fn(
        self,
        namespace: str,
        *,
        key: Callable[..., str | Mapping[str, Any]] | None = None,
        ttl: float | None = None,
        endpoint: str | None = None,
    ) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[R]]]:
        """A decorator: each call of the decorated async function goes through :meth:`cached`
        (one cache lookup; on a miss one shared, limited, retried call of the function).

        ``key``, called with the call's arguments, returns its key (a str or a mapping of
        parameters); by default the arguments themselves, bound to the signature with defaults
        applied, as canonical JSON (they must then be JSON-encodable: str, numbers, bools,
        ``None``, lists, dicts, msgspec structs...). ``ttl`` overrides the namespace's for the
        values stored. The namespace and ``ttl`` are checked here, when decorating; the engine
        must be open (``async with``) when the function is called. The function keeps its
        name, docstring and signature (:func:`functools.wraps`); returning :data:`MISSING`
        stores a negative entry where the namespace has a ``missing_ttl``.
        """
        self.config.cache.policy.for_namespace(namespace)  # UnknownNamespaceError, if not declared
        if ttl is not None:
            ttl = checked_ttl(ttl)

        def decorate(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
            signature = inspect.signature(fn) if key is None else None

            @functools.wraps(fn)
            async def cached_call(*args: P.args, **kwargs: P.kwargs) -> R:
                call_key = (
                    key(*args, **kwargs)
                    if key is not None
                    else _arguments_key(signature, args, kwargs)  # type: ignore[arg-type]
                )
                return await self.cached(  # type: ignore[return-value]
                    namespace,
                    call_key,
                    lambda: fn(*args, **kwargs),
                    endpoint=endpoint,
                    ttl=ttl,
                )

            return cached_call

        return decorate

    async def invalidate(self, namespace: str, key: str | Mapping[str, Any]) -> bool:
        """Forget ``key``'s cached entry; whether the store held one (:meth:`Cache.invalidate`:
        store errors propagate; other instances' memory tiers keep their copies)."""
        return await self.cache.invalidate(namespace, key)

    async def clear(self, namespace: str) -> int | None:
        """Forget every cached entry of ``namespace``; how many the store dropped, or ``None``
        where it cannot count (:meth:`Cache.clear`)."""
        return await self.cache.clear(namespace)

    async def deduplicated(
        self, key: str, fetch: Callable[[], Awaitable[T]], *, endpoint: str | None = None
    ) -> T:
        """One shared :meth:`upstream` call for concurrent callers with ``key``; not cached."""
        return await self.flights.do(
            ("upstream", key), lambda: self.upstream(key, fetch, endpoint=endpoint)
        )

    async def until_quiet(self, quiet: float) -> None:
        """Return once no interactive request has waited for the rate limiter, or been granted
        by it, for ``quiet`` seconds: the budget is spare. How work nobody waits for
        (pre-warming) stays off the budget while people are being served.

        Guarantees: on return, no interactive request waits in this engine's rate limiter and
        none was granted in the last ``quiet`` seconds. It does not reserve anything: an
        interactive request arriving just after may still wait out the spacing after the
        spare request's grant (scheduling is not pre-emptive), once per quiet period. With a
        shared (Redis) limiter only this instance's requests are seen; with a limiter of the
        user's own that cannot tell (no ``last_interactive()``), it returns at once.
        Cancellable at every wait.
        """
        quiet = checked_quiet(quiet)
        last_interactive = getattr(self.rate, "last_interactive", None)
        if last_interactive is None:
            await anyio.lowlevel.checkpoint()
            return
        while True:
            last = last_interactive()
            now = self.clock.monotonic()
            if last is not None and now >= last + quiet:
                await anyio.lowlevel.checkpoint()
                return
            # While someone waits, look again a quiet period later (50 ms at the least: no busy
            # polling for a short one); its grant starts another period anyway.
            await anyio.sleep(max(quiet, 0.05) if last is None else last + quiet - now)

    async def upstream(
        self,
        key: str,
        fetch: Callable[[], Awaitable[T]],
        *,
        endpoint: str | None = None,
        priority: Priority | None = None,
    ) -> T:
        """``await fetch()`` through the gate, with retries; ``key`` names it for jitter.

        ``priority``: the call's class in the rate limiter's line, ``"interactive"`` (someone
        waits for it) or ``"background"`` (pre-warming, a refresh); by default
        :func:`engine.limits.priority.fetch_priority` (``"background"`` inside a refresh ahead).
        It orders the line only with ``RateLimitConfig.background_share``.

        ``endpoint`` names the circuit the call goes through when the engine has a breaker
        (``EngineConfig.breaker``; calls that name none share one circuit, ``"upstream"``).
        While it is open each attempt fails at once with :class:`~engine.breaker.CircuitOpen`,
        which is not retried; only the attempts it lets through are sent and counted.

        A 429 (:class:`RateLimited`) pauses the shared rate limiter for its ``retry_after``,
        bounded by ``retry.max_retry_after`` (:meth:`RetryPolicy.pause`): whatever the upstream
        says, no caller is held back longer than that. The caller that got the 429 retries if
        the policy waits that long (else it fails at once), and does its waiting in the rate
        limiter's line, at its head: when the pause ends it is the first request granted.
        """
        gate = self.gate
        timeout = self.config.attempt_timeout
        breakers = self.breakers
        first = False  # the next attempt retries a 429: it goes to the head of the line

        async def send() -> T:
            self._attempts += 1
            # anyio.fail_after's deadline, without its generator-based context manager on
            # every attempt: the scope ends the fetch at the deadline, then we raise.
            scope = anyio.CancelScope(deadline=loop_time() + timeout)
            try:
                with scope:
                    result = await fetch()
            except TimeoutError:
                raise UpstreamTimeout(f"no answer within {timeout} s") from None
            except RateLimited as exc:
                self._rate_limited += 1
                self.rate.observe(rate_limited=True)
                self.rate.pause(self.retry.pause(exc))
                raise
            if scope.cancelled_caught:
                raise UpstreamTimeout(f"no answer within {timeout} s")
            self.rate.observe(rate_limited=False)
            return result

        async def attempt() -> T:
            if breakers is None:
                async with gate.request(key=key, first=first, priority=priority):
                    return await send()
            # Refused at once while the circuit refuses (no grant spent); asked again once
            # granted, since the circuit may have opened while the attempt waited in line.
            breakers.check(endpoint)
            async with gate.request(key=key, first=first, priority=priority):
                with breakers.attempt(endpoint):
                    return await send()

        async def wait(delay: float, error: BaseException) -> None:
            # After a 429 the limiter's pause is the wait (whenever the policy retries a 429,
            # RetryPolicy.pause is its delay): the retry queues at once, at the head of the line,
            # and is granted when the pause ends. Sleeping first and queueing then would race
            # the waiters woken at that same instant, and usually lose to every one of them.
            nonlocal first
            first = isinstance(error, RateLimited)
            if (
                breakers is not None
                and breakers.circuit(endpoint).refusal(self.clock.monotonic()) is not None
            ):
                return  # the circuit opened: the next attempt fails fast, no backoff first
            if not first:
                await anyio.sleep(delay)

        started = self.clock.monotonic()
        try:
            return await retrying(
                attempt,
                self.retry,
                key=key,
                seed=self.seed,
                on_retry=self._count_retry,
                wait=wait,
            )
        except Exception:
            self._failures += 1
            self._failure_seconds += self.clock.monotonic() - started
            raise

    def _count_retry(self, attempt: int, error: BaseException, delay: float) -> None:
        name = type(error).__name__
        self._retries[name] = self._retries.get(name, 0) + 1

    def stats(self) -> EngineStats:
        reports = _store_reports(self.cache.store)
        return EngineStats(
            upstream_attempts=self._attempts,
            rate_limited=self._rate_limited,
            retries=dict(sorted(self._retries.items())),
            failures=self._failures,
            rate=self.rate.stats(),
            concurrency=self.gate.concurrency.stats(),
            flights=self.flights.stats(),
            cache=self.cache.stats(),
            tiers=next((r for r in reports if isinstance(r, TieredStoreStats)), None),
            shared_store=next((r for r in reports if isinstance(r, RedisStoreStats)), None),
            failure_seconds=self._failure_seconds,
            breakers={} if self.breakers is None else self.breakers.stats(),
        )
