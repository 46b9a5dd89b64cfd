"""Run a scenario in virtual time against the in-process simulator.

One task starts each arrival at its instant (cheaper than thousands of sleeping tasks); every
instance is a :class:`~recobeat.client.RecoBeatClient` with its own engine and memory cache,
or a shared store and rate budget as the scenario says. The whole replay runs inside
``anyio.fail_after(horizon)``: a deadlock fails fast instead of hanging.
"""

from __future__ import annotations

import functools
from contextlib import AsyncExitStack
from typing import Any

import anyio
import msgspec

from engine import Engine, MemoryStore, SingleFlight, Store, VirtualClock
from engine.cache.events import CacheEvent
from engine.shared import (
    DistributedFlight,
    InProcessRedis,
    RedisRateLimiter,
    RedisStore,
    SharedTierConfig,
    TieredStore,
)
from engine.virtual import Backend, run_virtual
from recobeat.cache_types import recobeat_types
from recobeat.client import RecoBeatClient
from recobeat.config import ClientConfig, HttpConfig
from recobeat.replay.plans import Arrival, RequestPlan, plan_arrivals
from recobeat.replay.scenario import Scenario
from recobeat.stats import ClientStats
from recobeat.workload import PlaylistPlan, generate_playlist
from simulator import Catalog, CatalogConfig, RecoBeatSimulator, RequestRecord, SimulatorTransport

__all__ = ["Outcome", "RunResult", "catalog_for", "run_scenario"]

_BASE_URL = "http://recobeat.replay"
_SETTLE = 1e-6


class Outcome(msgspec.Struct, frozen=True):
    id: str
    stream: str
    kind: str
    """``playlist`` or the raw call's name."""
    instance: int
    started: float
    finished: float
    error: str | None

    @property
    def latency(self) -> float:
        return self.finished - self.started


class RunResult(msgspec.Struct):
    """Everything a replay produced; checks and the report are computed from it."""

    scenario: Scenario
    backend: str
    profile: str
    config: ClientConfig
    arrivals: list[Arrival]
    outcomes: list[Outcome]
    """Sorted by arrival id, whatever order they finished in."""
    log: list[RequestRecord]
    stats: list[ClientStats]
    """Per instance."""
    cache_events: list[list[CacheEvent]]
    """Per store (one when the store is shared)."""
    finished_at: float
    timed_out: bool


@functools.cache
def catalog_for(config: CatalogConfig, seed: int) -> Catalog:
    """Catalogs are immutable and slow to build: one per (size, seed) per process."""
    return Catalog(config, seed=seed)


def run_scenario(scenario: Scenario, backend: Backend, *, profile: str | None = None) -> RunResult:
    """Replay ``scenario`` on ``backend`` in virtual time (deterministic for its seed)."""
    return run_virtual(_replay, scenario, backend, profile, backend=backend, seed=scenario.seed)


async def _replay(scenario: Scenario, backend: str, profile: str | None) -> RunResult:
    config = scenario.client_config(profile)
    # Simultaneous requests go in key order, not the event loop's: the same report on both
    # backends (see RateLimitConfig.settle).
    config = msgspec.structs.replace(
        config,
        engine=msgspec.structs.replace(
            config.engine, rate=msgspec.structs.replace(config.engine.rate, settle=_SETTLE)
        ),
    )
    clock = VirtualClock()
    catalog = catalog_for(scenario.upstream.catalog, scenario.upstream.seed)
    sim = RecoBeatSimulator(scenario.upstream, clock=clock, catalog=catalog)
    arrivals = plan_arrivals(scenario, catalog)
    instances = scenario.instances
    engine_config = config.engine
    event_logs: list[list[CacheEvent]] = []
    # Shared state lives in the in-process twin of Redis: the same semantics, no real I/O.
    twin = InProcessRedis(clock=clock)
    tier = SharedTierConfig(time_source="client")
    shared_events: list[CacheEvent] = []
    budget = (
        RedisRateLimiter(twin, engine_config.rate, clock=clock, settings=tier)
        if instances.shared_budget
        else None
    )

    def new_instance_store() -> tuple[Store, list[CacheEvent], SingleFlight | None]:
        """An instance's own LRU, or, when instances share a store, its LRU in front of the
        shared tier, with cross-instance deduplication. Cache events are audited per store: the
        shared tier's are one log (an LRU eviction in front of it loses nothing)."""
        capacity = engine_config.cache.capacity
        if not instances.shared_store:
            events: list[CacheEvent] = []
            event_logs.append(events)
            return MemoryStore(capacity, clock=clock, observer=events.append), events, None
        if not event_logs:
            event_logs.append(shared_events)
        shared = RedisStore(twin, clock=clock, registry=recobeat_types(), config=tier)
        store = TieredStore(MemoryStore(capacity, clock=clock), shared, clock=clock, config=tier)
        return store, shared_events, DistributedFlight(twin, store, clock=clock, settings=tier)

    outcomes: dict[str, Outcome] = {}
    clients: list[RecoBeatClient] = []
    with anyio.move_on_after(scenario.horizon) as guard:
        async with AsyncExitStack() as stack:
            for k in range(instances.count):
                store, events, flights = new_instance_store()
                engine = await stack.enter_async_context(
                    Engine(
                        engine_config,
                        clock=clock,
                        store=store,
                        seed=scenario.seed * 1_000 + k,
                        rate_limiter=budget,
                        observer=events.append,
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
                            transport=SimulatorTransport(sim, client_id=name),
                        )
                    )
                )
            async with anyio.create_task_group() as tg:
                for arrival in arrivals:
                    await anyio.sleep_until(arrival.at)
                    tg.start_soon(_perform, clients[arrival.instance], arrival, outcomes)
    return RunResult(
        scenario=scenario,
        backend=backend,
        profile=profile or str(scenario.engine.get("profile", "tuned")),
        config=config,
        arrivals=arrivals,
        outcomes=[outcomes[a.id] for a in arrivals if a.id in outcomes],
        log=sim.log.records(),
        stats=[client.stats() for client in clients],
        cache_events=event_logs,
        finished_at=clock.monotonic(),
        timed_out=guard.cancelled_caught,
    )


async def _perform(client: RecoBeatClient, arrival: Arrival, outcomes: dict[str, Outcome]) -> None:
    work = arrival.work
    if isinstance(work, PlaylistPlan):
        result = await generate_playlist(client, work)
        outcomes[arrival.id] = Outcome(
            arrival.id,
            arrival.stream,
            "playlist",
            arrival.instance,
            result.started,
            result.finished,
            result.error,
        )
        return
    started = anyio.current_time()
    error: str | None = None
    try:
        await _call(client, work)
    except Exception as exc:
        error = type(exc).__name__
    outcomes[arrival.id] = Outcome(
        arrival.id,
        arrival.stream,
        work.call,
        arrival.instance,
        started,
        anyio.current_time(),
        error,
    )


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
