"""Run a scenario in virtual time against the in-process simulator.

One task starts each arrival at its instant (cheaper than thousands of sleeping tasks), on a
reusable worker task (cheaper than a task per arrival: :class:`engine.workers.WorkerPool`);
every instance is a :class:`~recobeat.client.RecoBeatClient` with its own engine and memory
cache, or a shared store and rate budget as the scenario says. The whole replay runs inside
``anyio.move_on_after(horizon)``: a replay still running at its horizon (a deadlock, say) is
stopped there instead of hanging, and its result says so (``timed_out``, which fails the
horizon check, with the unfinished arrivals counted).

Memory stays flat per arrival: arrivals are planned as they are reached, each outcome is folded
into counts and a latency as it finishes, and the cache events into :class:`TtlAudit` s and
one :class:`UpstreamFloor` (every instance's lookups) as they happen. What a :class:`RunResult`
keeps per arrival is one float (a playlist's latency), and per cache key the instant of its last
fetch in the floor; the simulator's request log grows with upstream calls, which the rate budget
bounds per second.
"""

from __future__ import annotations

import functools
from contextlib import AsyncExitStack
from typing import Any, Literal

import anyio
import msgspec

from engine import Engine, MemoryStore, SingleFlight, Store, VirtualClock
from engine.cache.events import CacheEvent, CacheObserver
from engine.shared import (
    DistributedFlight,
    InProcessRedis,
    RedisRateLimiter,
    RedisStore,
    SharedTierConfig,
    TieredStore,
)
from engine.virtual import Backend, loop_time, run_virtual
from engine.workers import WorkerPool
from recobeat.cache_types import recobeat_types
from recobeat.client import RecoBeatClient
from recobeat.config import ClientConfig, HttpConfig
from recobeat.stats import ClientStats
from simulator import (
    Catalog,
    CatalogConfig,
    DirectTransport,
    RecoBeatSimulator,
    RequestRecord,
    SimulatorTransport,
)
from simulator.replay.audit import TtlAudit
from simulator.replay.floor import UpstreamFloor
from simulator.replay.plans import Arrival, RequestPlan, iter_arrivals
from simulator.replay.prewarm import prewarm_runs, run_prewarm
from simulator.replay.progress import ProgressCallback, ReplayProgress
from simulator.replay.scenario import Scenario
from simulator.workload import PlaylistPlan, generate_playlist

__all__ = ["RunResult", "catalog_for", "run_scenario"]

_BASE_URL = "http://simulator.replay"
_SETTLE = 1e-6


class RunResult(msgspec.Struct):
    """What a replay produced that checks and the report need; computed from it."""

    scenario: Scenario
    backend: str
    profile: str
    config: ClientConfig
    arrivals: int
    """Arrivals planned (also those a timeout left unstarted)."""
    completed: int
    """Arrivals that finished, with or without an error."""
    failed: int
    playlist_latencies: list[float]
    """Seconds each playlist generation that succeeded took, sorted."""
    log: list[RequestRecord]
    stats: list[ClientStats]
    """Per instance."""
    ttl: list[TtlAudit]
    """The cache events, audited per store (one when the store is shared)."""
    floor: UpstreamFloor
    """Every instance's lookups, folded into the fewest requests that serve them."""
    finished_at: float
    timed_out: bool
    request_latencies: list[float] = []
    """Seconds each raw call (``kind = "requests"``) that succeeded took, sorted."""
    stream_latencies: dict[str, list[float]] = {}
    """With ``[prewarm]``: the seconds each playlist generation that succeeded took, by
    stream (simulator/replay/prewarm.py); empty otherwise."""
    prewarmed: int = 0
    """IDs the ``[prewarm]`` step asked the upstream for."""
    stream_baseline: dict[str, list[float]] = {}
    """With ``[prewarm] baseline = true``: ``stream_latencies`` of the same replay under the
    same profile with the step off."""


class _Tally:
    """The outcomes folded as arrivals finish, and the progress calls, throttled."""

    __slots__ = (
        "completed",
        "failed",
        "horizon",
        "latencies",
        "next_tick",
        "progress",
        "requests",
        "started",
        "streams",
    )

    def __init__(self, horizon: float, progress: ProgressCallback | None) -> None:
        self.started = 0
        self.completed = 0
        self.failed = 0
        self.latencies: list[float] = []
        self.requests: list[float] = []
        self.streams: dict[str, list[float]] | None = None  # by stream, when asked for
        self.horizon = horizon
        self.progress = progress
        self.next_tick = 0.0

    def finish(self, kind: str, started: float, finished: float, error: str | None) -> None:
        self.completed += 1
        if error is not None:
            self.failed += 1
        elif kind == "playlist":
            self.latencies.append(finished - started)
        else:
            self.requests.append(finished - started)
        self.tick(finished)

    def tick(self, now: float) -> None:
        # Cheap when nobody watches, and at most about a hundred calls when someone does.
        if self.progress is not None and now >= self.next_tick:
            self.next_tick = now + self.horizon / 100
            self.progress(ReplayProgress(now, self.horizon, self.started, self.completed))


@functools.cache
def catalog_for(config: CatalogConfig, seed: int) -> Catalog:
    """Catalogs are immutable and slow to build: one per (size, seed) per process."""
    return Catalog(config, seed=seed)


def run_scenario(
    scenario: Scenario,
    backend: Backend,
    *,
    profile: str | None = None,
    progress: ProgressCallback | None = None,
    transport: Literal["direct", "httpx"] = "direct",
) -> RunResult:
    """Replay ``scenario`` on ``backend`` in virtual time (deterministic for its random seed).

    ``progress``, when given, is called as virtual time advances (about each 1 % of the
    horizon, when an arrival starts or finishes) and once at the end with ``finished=True``.
    ``transport``: how the clients reach the simulator, directly (:class:`DirectTransport`) or
    through httpx (:class:`SimulatorTransport`); the result is the same, httpx is slower."""
    run = run_virtual(
        _replay,
        scenario,
        backend,
        profile,
        progress,
        transport,
        backend=backend,
        seed=scenario.seed,
    )
    spec = scenario.prewarm
    if spec is not None and spec.baseline and prewarm_runs(scenario, run.profile):
        # The same replay with the step off: what pre-warming changed, and nothing else.
        cold = msgspec.structs.replace(scenario, prewarm=msgspec.structs.replace(spec, at=[]))
        baseline = run_virtual(
            _replay, cold, backend, profile, None, transport, backend=backend, seed=scenario.seed
        )
        run.stream_baseline = baseline.stream_latencies
    return run


async def _replay(
    scenario: Scenario,
    backend: str,
    profile: str | None,
    progress: ProgressCallback | None,
    transport: str,
) -> RunResult:
    config = scenario.client_config(profile)
    # Simultaneous requests go in key order, not the event loop's: the same report on asyncio
    # and on trio (see RateLimitConfig.settle).
    config = msgspec.structs.replace(
        config,
        engine=msgspec.structs.replace(
            config.engine, rate=msgspec.structs.replace(config.engine.rate, settle=_SETTLE)
        ),
    )
    clock = VirtualClock()
    catalog = catalog_for(scenario.upstream.catalog, scenario.upstream.seed)
    sim = RecoBeatSimulator(scenario.upstream, clock=clock, catalog=catalog)
    arrivals = iter_arrivals(scenario, catalog)
    instances = scenario.instances
    engine_config = config.engine
    audits: list[TtlAudit] = []
    # Shared state lives in the in-process twin of Redis: the same semantics, no real I/O.
    twin = InProcessRedis(clock=clock)
    tier = SharedTierConfig(time_source="client")
    shared_audit = TtlAudit(engine_config.cache.policy)
    floor = UpstreamFloor(engine_config.cache.policy, catalog)
    budget = (
        RedisRateLimiter(twin, engine_config.rate, clock=clock, settings=tier)
        if instances.shared_budget
        else None
    )

    def new_instance_store() -> tuple[Store, TtlAudit, SingleFlight | None]:
        """An instance's own LRU, or, when instances share a store, its LRU in front of the
        shared tier, with cross-instance deduplication. Cache events are audited per store: the
        shared tier's are one stream (an LRU eviction in front of it loses nothing)."""
        capacity = engine_config.cache.capacity
        if not instances.shared_store:
            audit = TtlAudit(engine_config.cache.policy)
            audits.append(audit)
            return MemoryStore(capacity, clock=clock, observer=audit), audit, None
        if not audits:
            audits.append(shared_audit)
        shared = RedisStore(twin, clock=clock, registry=recobeat_types(), config=tier)
        store = TieredStore(MemoryStore(capacity, clock=clock), shared, clock=clock, config=tier)
        return store, shared_audit, DistributedFlight(twin, store, clock=clock, settings=tier)

    tally = _Tally(scenario.horizon, progress)
    if scenario.prewarm is not None:
        tally.streams = {}
    run_profile = profile or str(scenario.engine.get("profile", "tuned"))
    warmed: list[int] = []
    planned = 0
    clients: list[RecoBeatClient] = []
    with anyio.move_on_after(scenario.horizon) as guard:
        async with AsyncExitStack() as stack:
            for k in range(instances.count):
                store, audit, flights = new_instance_store()
                engine = await stack.enter_async_context(
                    Engine(
                        engine_config,
                        clock=clock,
                        store=store,
                        seed=scenario.seed * 1_000 + k,
                        rate_limiter=budget,
                        observer=_both(audit, floor),
                        flights=flights,
                    )
                )
                name = "backend" if instances.same_client else f"instance-{k}"
                client_config = msgspec.structs.replace(
                    config, http=HttpConfig(base_url=_BASE_URL, client_id=name)
                )
                clients.append(
                    await stack.enter_async_context(
                        RecoBeatClient(
                            client_config,
                            engine=engine,
                            transport=(
                                DirectTransport(sim, client_id=name)
                                if transport == "direct"
                                else SimulatorTransport(sim, client_id=name)
                            ),
                        )
                    )
                )
            async with anyio.create_task_group() as tg:
                if prewarm_runs(scenario, run_profile):
                    tg.start_soon(run_prewarm, clients, scenario, catalog, warmed)
                # Arrivals on reusable worker tasks (engine.workers): a task each costs more.
                workers = WorkerPool(tg.start_soon)
                try:
                    for arrival in arrivals:
                        planned += 1
                        await anyio.sleep_until(arrival.at)
                        tally.started += 1
                        tally.tick(arrival.at)
                        workers.start(_perform, clients[arrival.instance], arrival, tally)
                finally:
                    workers.close()
    finished_at = clock.monotonic()
    if progress is not None:
        progress(
            ReplayProgress(finished_at, scenario.horizon, tally.started, tally.completed, True)
        )
    # A timeout leaves arrivals unplanned: count them, as the report counts every arrival.
    planned += sum(1 for _ in arrivals)
    return RunResult(
        scenario=scenario,
        backend=backend,
        profile=run_profile,
        config=config,
        arrivals=planned,
        completed=tally.completed,
        failed=tally.failed,
        playlist_latencies=sorted(tally.latencies),
        log=sim.log.records(),
        stats=[client.stats() for client in clients],
        ttl=audits,
        floor=floor,
        finished_at=finished_at,
        timed_out=guard.cancelled_caught,
        request_latencies=sorted(tally.requests),
        stream_latencies={k: sorted(v) for k, v in sorted((tally.streams or {}).items())},
        prewarmed=sum(warmed),
    )


def _both(audit: TtlAudit, floor: UpstreamFloor) -> CacheObserver:
    def observe(event: CacheEvent) -> None:
        audit(event)
        floor(event)

    return observe


async def _perform(client: RecoBeatClient, arrival: Arrival, tally: _Tally) -> None:
    work = arrival.work
    if isinstance(work, PlaylistPlan):
        result = await generate_playlist(client, work)
        tally.finish("playlist", result.started, result.finished, result.error)
        if tally.streams is not None and result.error is None:
            latency = result.finished - result.started
            tally.streams.setdefault(arrival.stream, []).append(latency)
        return
    started = loop_time()
    error: str | None = None
    try:
        await _call(client, work)
    except Exception as exc:
        error = type(exc).__name__
    tally.finish(work.call, started, loop_time(), error)


async def _call(client: RecoBeatClient, plan: RequestPlan) -> Any:
    ids = list(plan.ids)
    if plan.call == "tracks":
        return await client.tracks(ids)
    if plan.call == "convert_ids":
        return await client.convert_ids(ids)
    if plan.call == "audio_features":
        return await client.audio_features_many(ids)
    if plan.call == "recommendations":
        return await client.recommendations(ids, 20)
    return await client.search_artists(ids[0])
