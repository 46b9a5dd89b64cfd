"""The engine's statistics for monitoring systems, with no monitoring library required.

- :func:`prometheus_text` renders an :class:`~engine.EngineStats` in Prometheus' text exposition
  format (written here by hand: no dependency).
- :func:`register` registers a collector reading ``engine.stats()`` at each scrape on a
  ``prometheus_client`` registry (the ``metrics`` extra; imported only when called).
- :class:`EngineHooks` are callbacks (for an OpenTelemetry meter, say) called synchronously on
  events: a rate-limiter grant with its wait, a 429, a cache hit/miss/store/evict, a flight
  started or joined. :func:`instrument` wires them through the engine's existing injection points
  (``rate_limiter``, ``observer``, ``flights``): ``Engine(config, **instrument(config, hooks))``.
  A hook that raises never breaks a request: it is counted (``EngineHooks.errors``) and logged,
  at most once a minute.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Hashable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from engine.cache.events import CacheEvent, CacheObserver
from engine.clock import Clock, SystemClock
from engine.limits import RateLimiter, RateLimiterStats
from engine.limits.protocol import RateLimiting
from engine.singleflight import SingleFlight
from engine.throttled_log import ThrottledWarning

if TYPE_CHECKING:
    from engine.engine import Engine, EngineConfig, EngineStats

__all__ = [
    "EngineHooks",
    "Family",
    "engine_families",
    "instrument",
    "prometheus_text",
    "register",
    "register_families",
    "render",
]

T = TypeVar("T")
Labels = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Family:
    """One metric family: ``name`` without the ``_total`` of a counter's samples."""

    name: str
    kind: Literal["counter", "gauge"]
    help: str
    samples: list[tuple[Labels, float]]


def _f(
    name: str, kind: Literal["counter", "gauge"], help: str, value: float, **labels: str
) -> Family:
    return Family(name, kind, help, [(tuple(labels.items()), value)])


def engine_families(stats: EngineStats, *, prefix: str = "engine") -> list[Family]:
    """The families :func:`prometheus_text` and :func:`register` expose, in order."""
    p = prefix
    c: Literal["counter"] = "counter"
    g: Literal["gauge"] = "gauge"
    out = [
        _f(f"{p}_upstream_attempts", c, "Attempts sent upstream.", stats.upstream_attempts),
        _f(f"{p}_rate_limited", c, "Attempts answered 429.", stats.rate_limited),
        Family(
            f"{p}_retries",
            c,
            "Retries by the error that caused them.",
            [((("error", k),), v) for k, v in stats.retries.items()],
        ),
        _f(f"{p}_failures", c, "Upstream calls failed after their last attempt.", stats.failures),
        _f(
            f"{p}_failure_seconds",
            c,
            "Seconds failed upstream calls took.",
            stats.failure_seconds,
        ),
    ]
    r: RateLimiterStats = stats.rate
    out += [
        _f(f"{p}_rate_granted", c, "Rate limiter grants.", r.granted),
        _f(f"{p}_rate_waited", c, "Grants that had to wait.", r.waited),
        _f(f"{p}_rate_wait_seconds", c, "Seconds granted callers waited.", r.total_wait),
        _f(f"{p}_rate_timeouts", c, "Callers that gave up waiting.", r.timeouts),
        _f(f"{p}_rate_background_grants", c, "Grants to background requests.", r.background_grants),
        _f(f"{p}_rate_queue", g, "Callers waiting for a grant.", r.queue),
        _f(f"{p}_rate_max_queue", g, "Most callers ever waiting for a grant.", r.max_queue),
        _f(f"{p}_rate_busy_seconds", c, "Seconds with a caller waiting.", r.busy_time),
    ]
    if r.adaptive_scale is not None:
        out.append(_f(f"{p}_rate_adaptive_scale", g, "Adaptive share.", r.adaptive_scale))
    k = stats.concurrency
    out += [
        _f(f"{p}_concurrency_limit", g, "Requests allowed in flight.", k.limit),
        _f(f"{p}_concurrency_in_use", g, "Requests in flight.", k.in_use),
        _f(f"{p}_concurrency_peak", g, "Most requests ever in flight.", k.peak),
        _f(f"{p}_concurrency_waiting", g, "Requests waiting for a slot.", k.waiting),
        _f(f"{p}_concurrency_acquired", c, "Slots acquired.", k.acquired),
    ]
    fl = stats.flights
    out += [
        _f(f"{p}_flight_calls", c, "Deduplicated calls.", fl.calls),
        _f(f"{p}_flight_executions", c, "Executions started.", fl.executions),
        _f(f"{p}_flight_shared", c, "Calls that joined a running execution.", fl.shared),
        _f(f"{p}_flight_abandoned", c, "Executions cancelled, nobody waiting.", fl.abandoned),
        _f(f"{p}_flight_in_flight", g, "Executions running.", fl.in_flight),
    ]
    ns = stats.cache.namespaces
    for attr, kind, help in (
        ("hits", c, "Lookups answered by a fresh value."),
        ("misses", c, "Lookups that found nothing fresh."),
        ("negative_hits", c, "Lookups answered by a known-missing entry."),
        ("evictions", c, "Entries dropped to make room."),
        ("expirations", c, "Stale or purged entries."),
        ("refreshes", c, "Background refreshes started."),
        ("refreshes_failed", c, "Background refreshes that failed."),
        ("stale_served", c, "Lookups answered by a stale value."),
        ("size", g, "Entries held."),
    ):
        out.append(
            Family(
                f"{p}_cache_{attr}",
                kind,  # type: ignore[arg-type]
                help,
                [((("namespace", name),), getattr(n, attr)) for name, n in ns.items()],
            )
        )
    out.append(
        _f(f"{p}_cache_store_errors", c, "Store operations that raised.", stats.cache.store_errors)
    )
    if stats.tiers is not None:
        t = stats.tiers
        out += [
            _f(f"{p}_tier_memory_hits", c, "Lookups answered from memory.", t.memory_hits),
            _f(f"{p}_tier_shared_hits", c, "Lookups answered by the shared tier.", t.shared_hits),
            _f(f"{p}_tier_shared_misses", c, "Shared-tier misses.", t.shared_misses),
            _f(f"{p}_tier_shared_errors", c, "Shared-tier calls that raised.", t.shared_errors),
            _f(f"{p}_tier_fallbacks", c, "Shared-tier calls skipped.", t.fallbacks),
            _f(
                f"{p}_tier_shared_available",
                g,
                "1 while the shared tier is used.",
                t.shared_available,
            ),
        ]
    if stats.shared_store is not None:
        s = stats.shared_store
        out += [
            _f(f"{p}_shared_store_hits", c, "Shared store hits.", s.hits),
            _f(f"{p}_shared_store_misses", c, "Shared store misses.", s.misses),
            _f(f"{p}_shared_store_corrupt", c, "Undecodable values deleted.", s.corrupt),
            _f(f"{p}_shared_store_errors", c, "Shared store calls that raised.", s.errors),
            _f(
                f"{p}_shared_store_round_trips",
                c,
                "Shared store round trips.",
                s.latency.round_trips,
            ),
        ]
    if stats.breakers:
        b = stats.breakers
        out += [
            Family(
                f"{p}_breaker_state",
                g,
                "1 for the circuit's current state.",
                [
                    ((("endpoint", e), ("state", state)), float(s.state == state))
                    for e, s in b.items()
                    for state in ("closed", "open", "half_open")
                ],
            ),
        ]
        for attr, help in (
            ("opened", "Times the circuit opened."),
            ("failed_fast", "Calls refused without being sent."),
            ("stale_answers", "Refused calls answered by a stale value."),
            ("successes", "Outcomes recorded as successes."),
            ("failures", "Outcomes recorded as failures."),
        ):
            out.append(
                Family(
                    f"{p}_breaker_{attr}",
                    c,
                    help,
                    [((("endpoint", e),), getattr(s, attr)) for e, s in b.items()],
                )
            )
    return out


def _value(v: float) -> str:
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, int):
        return str(v)
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return repr(float(v))


def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def render(families: Iterable[Family]) -> str:
    """``families`` in Prometheus' text format (version 0.0.4): ``# HELP`` and ``# TYPE`` lines,
    then one line a sample; a counter's samples (and its HELP/TYPE names) end in ``_total``."""
    lines: list[str] = []
    for fam in families:
        name = f"{fam.name}_total" if fam.kind == "counter" else fam.name
        help = fam.help.replace("\\", "\\\\").replace("\n", "\\n")
        lines += [f"# HELP {name} {help}", f"# TYPE {name} {fam.kind}"]
        for labels, v in fam.samples:
            body = ",".join(f'{k}="{_escape_label(x)}"' for k, x in labels)
            lines.append(f"{name}{{{body}}} {_value(v)}" if body else f"{name} {_value(v)}")
    return "\n".join(lines) + "\n"


def prometheus_text(stats: EngineStats, *, prefix: str = "engine") -> str:
    """``stats`` as Prometheus exposition text (``Content-Type: text/plain; version=0.0.4``)."""
    return render(engine_families(stats, prefix=prefix))


def _prometheus_client() -> Any:
    try:
        import prometheus_client.core
    except ModuleNotFoundError as exc:
        if exc.name != "prometheus_client":
            raise
        raise ModuleNotFoundError(
            "Prometheus metrics need prometheus_client: pip install 'recobeat-engine[metrics]'",
            name="prometheus_client",
        ) from None
    return prometheus_client


def to_client_families(families: Iterable[Family]) -> Iterator[Any]:
    """``families`` as ``prometheus_client`` metric families (the ``metrics`` extra)."""
    core = _prometheus_client().core
    for fam in families:
        cls = core.CounterMetricFamily if fam.kind == "counter" else core.GaugeMetricFamily
        names = [k for k, _ in fam.samples[0][0]] if fam.samples else []
        metric = cls(fam.name, fam.help, labels=names)
        for labels, v in fam.samples:
            metric.add_metric([x for _, x in labels], float(v))
        yield metric


class _Collector:
    def __init__(self, read: Callable[[], list[Family]]) -> None:
        self._read = read

    def collect(self) -> Iterator[Any]:
        return to_client_families(self._read())

    def describe(self) -> list[Any]:
        return []  # unchecked: the families depend on the stats (namespaces, tiers, breakers)


def register_families(read: Callable[[], list[Family]], registry: Any = None) -> Any:
    """Register on ``registry`` (default: ``prometheus_client.REGISTRY``) a collector calling
    ``read()`` at each scrape (no background task); return the collector (pass it to
    ``registry.unregister`` to stop). Needs the ``metrics`` extra."""
    client = _prometheus_client()
    collector = _Collector(read)
    (client.REGISTRY if registry is None else registry).register(collector)
    return collector


def register(engine: Engine, registry: Any = None, *, prefix: str = "engine") -> Any:
    """Register a collector reading ``engine.stats()`` at each scrape
    (:func:`register_families`); return it."""
    return register_families(lambda: engine_families(engine.stats(), prefix=prefix), registry)


# -- hooks ---------------------------------------------------------------------------------------

log = logging.getLogger("engine.metrics")
FlightEvent = Literal["started", "joined"]


@dataclass(eq=False)
class EngineHooks:
    """Callbacks called synchronously on the engine's events; ``None``: not called.

    ``on_grant(wait)``: the rate limiter granted an attempt after ``wait`` seconds (0.0: at once).
    ``on_rate_limited()``: an attempt was answered 429. ``on_cache(event)``: a
    :class:`~engine.cache.events.CacheEvent` (``kind``: hit, miss, store, evict).
    ``on_flight(kind)``: a deduplicated call ``"started"`` an execution or ``"joined"`` one.
    Keep them cheap: they run on the request's path. An exception is counted in ``errors`` and
    logged (at most once per ``log_interval`` seconds), never raised into the request.
    """

    on_grant: Callable[[float], None] | None = None
    on_rate_limited: Callable[[], None] | None = None
    on_cache: Callable[[CacheEvent], None] | None = None
    on_flight: Callable[[FlightEvent], None] | None = None
    log_interval: float = 60.0
    errors: int = field(default=0, init=False)
    _warn: ThrottledWarning | None = field(default=None, init=False, repr=False)

    def _call(self, hook: Callable[..., None], *args: Any) -> None:
        try:
            hook(*args)
        except Exception as exc:
            self.errors += 1
            if self._warn is not None:
                self._warn("a metrics hook raised (%d so far): %r", self.errors, exc)


class _HookedRateLimiter:
    """A :class:`RateLimiting` that reports grants and 429s to the hooks."""

    def __init__(self, inner: RateLimiting, hooks: EngineHooks, clock: Clock) -> None:
        self._inner = inner
        self._hooks = hooks
        self._clock = clock

    async def acquire(self, *args: Any, **kwargs: Any) -> Any:
        on_grant = self._hooks.on_grant
        if on_grant is None:
            return await self._inner.acquire(*args, **kwargs)
        start = self._clock.monotonic()
        granted = await self._inner.acquire(*args, **kwargs)
        self._hooks._call(on_grant, self._clock.monotonic() - start)
        return granted

    def pause(self, seconds: float) -> None:
        self._inner.pause(seconds)

    def observe(self, *, rate_limited: bool) -> None:
        self._inner.observe(rate_limited=rate_limited)
        if rate_limited and self._hooks.on_rate_limited is not None:
            self._hooks._call(self._hooks.on_rate_limited)

    def stats(self) -> RateLimiterStats:
        return self._inner.stats()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def __repr__(self) -> str:
        return repr(self._inner)


class _HookedFlight(SingleFlight):
    """A :class:`SingleFlight` that reports each call as starting or joining an execution."""

    def __init__(self, hooks: EngineHooks) -> None:
        super().__init__()
        self._hooks = hooks

    async def do(self, key: Hashable, fn: Callable[[], Any]) -> Any:
        on_flight = self._hooks.on_flight
        if on_flight is not None:
            self._hooks._call(on_flight, "joined" if self.running(key) else "started")
        return await super().do(key, fn)


def instrument(
    config: EngineConfig,
    hooks: EngineHooks,
    *,
    clock: Clock | None = None,
    rate_limiter: RateLimiting | None = None,
    observer: CacheObserver | None = None,
    flights: SingleFlight | None = None,
) -> dict[str, Any]:
    """The :class:`~engine.Engine` keyword arguments that report to ``hooks``:
    ``Engine(config, clock=clock, **instrument(config, hooks, clock=clock))``.

    ``rate_limiter`` and ``observer``, when given, are wrapped (the observer still sees every
    event). Flights are reported only with the engine's local singleflight: a ``flights`` passed
    here (a ``DistributedFlight``) is returned unreported."""
    clock = clock if clock is not None else SystemClock()
    hooks._warn = ThrottledWarning(log, clock=clock, interval=hooks.log_interval)
    kwargs: dict[str, Any] = {}
    if hooks.on_grant is not None or hooks.on_rate_limited is not None:
        inner = rate_limiter
        if inner is None:
            if config.rate is None:
                raise ValueError("instrument: EngineConfig.rate is required without rate_limiter")
            inner = RateLimiter(config.rate, clock=clock)
        kwargs["rate_limiter"] = _HookedRateLimiter(inner, hooks, clock)
    elif rate_limiter is not None:
        kwargs["rate_limiter"] = rate_limiter
    on_cache = hooks.on_cache
    if on_cache is not None:

        def observe(event: CacheEvent) -> None:
            if observer is not None:
                observer(event)
            hooks._call(on_cache, event)

        kwargs["observer"] = observe
    elif observer is not None:
        kwargs["observer"] = observer
    if flights is not None:
        kwargs["flights"] = flights
    elif hooks.on_flight is not None:
        kwargs["flights"] = _HookedFlight(hooks)
    return kwargs
