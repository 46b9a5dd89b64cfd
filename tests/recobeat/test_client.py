"""The RecoBeat client against the simulator, in virtual time, on both backends.

Each optimisation is shown by what the simulator's request log records.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import msgspec
import pytest

from engine import RateLimitConfig, RetryConfig, VirtualClock
from recobeat.client import RecoBeatClient
from recobeat.config import BatchingConfig, ClientConfig, HttpConfig
from recobeat.errors import MalformedResponse, UpstreamServerError
from recobeat.ids import InvalidId
from recobeat.targets import AudioTargets
from simulator import (
    EndpointProfile,
    FaultRates,
    FaultWindow,
    RecoBeatSimulator,
    SeedPool,
)
from simulator import RateLimitConfig as UpstreamLimit
from simulator import RateLimitRule as UpstreamRule
from simulator.upstream.api import parse_query
from tests.engine_configs import engine_config

pytestmark = pytest.mark.anyio

DAY = 86400.0


@pytest.fixture
def open_client(make_simulator: Callable[..., RecoBeatSimulator]):  # type: ignore[no-untyped-def]
    @asynccontextmanager
    async def open_(
        config: ClientConfig | None = None, **simulator_changes: Any
    ) -> AsyncIterator[tuple[RecoBeatClient, RecoBeatSimulator]]:
        from simulator import SimulatorTransport

        sim = make_simulator(**simulator_changes)
        config = config or ClientConfig()
        config = msgspec.structs.replace(
            config, http=HttpConfig(base_url="http://recobeat.test", client_id="backend-1")
        )
        async with RecoBeatClient(
            config, transport=SimulatorTransport(sim), clock=VirtualClock(), seed=3
        ) as client:
            yield client, sim

    return open_


def upstream(sim: RecoBeatSimulator, endpoint: str | None = None) -> list[Any]:
    return [r for r in sim.log if endpoint is None or r.endpoint == endpoint]


def ids_sent(record: Any) -> list[str]:
    return parse_query(record.params).get("ids", [])


async def test_identical_concurrent_calls_make_one_upstream_request(open_client) -> None:  # type: ignore[no-untyped-def]
    async with open_client() as (client, sim):
        seeds = [sim.catalog.track_uuid(i) for i in range(3)]
        results: list[tuple[Any, ...]] = []

        async def ask() -> None:
            results.append(
                await client.recommendations(seeds, 20, targets=AudioTargets(energy=0.8))
            )

        async with anyio.create_task_group() as tg:
            for _ in range(20):
                tg.start_soon(ask)
        # Same request with the seeds in another order: a cache hit, not a second request.
        again = await client.recommendations(seeds[::-1], 20, targets=AudioTargets(energy=0.8))
        stats = client.stats()
    assert len(upstream(sim)) == 1
    assert all(r == results[0] for r in results) and again == results[0]
    assert len(results[0]) == 20
    assert stats.dedup_saved == 19
    assert stats.engine.cache.namespaces["recommendations"].hits == 1


async def test_90_id_lookup_makes_three_requests_of_at_most_40(open_client) -> None:  # type: ignore[no-untyped-def]
    async with open_client() as (client, sim):
        ids = [sim.catalog.spotify_id(i) for i in range(90)]
        found = await client.tracks(ids)
        stats = client.stats()
        # Overlapping set later: only the new IDs are requested.
        more = [sim.catalog.spotify_id(i) for i in range(80, 100)]
        await client.tracks(more)
    sizes = [len(ids_sent(r)) for r in upstream(sim, "/v1/track")]
    assert sorted(sizes[:3]) == [10, 40, 40]
    assert sizes[3:] == [10]
    assert set(found) == set(ids)
    assert all(found[i].spotify_id == i for i in ids)
    assert stats.id_chunk_size == 40 and stats.id_chunk_size_clamped


async def test_missing_ids_are_not_requested_again_for_14_days(open_client) -> None:  # type: ignore[no-untyped-def]
    async with open_client() as (client, sim):
        known = [sim.catalog.spotify_id(i) for i in range(3)]
        unknown = [sim.catalog.unknown_spotify_id(i) for i in range(2)]
        first = await client.convert_ids(known + unknown)
        assert first == {
            **{s: sim.catalog.track_uuid(i) for i, s in enumerate(known)},
            **dict.fromkeys(unknown),
        }
        await anyio.sleep(14 * DAY - 60)
        assert await client.convert_ids(known + unknown) == first
        assert len(upstream(sim)) == 1
        assert client.stats().registry_lookups_avoided == 5
        await anyio.sleep(120)  # past 14 days: the missing ones are asked again, only them
        assert await client.convert_ids(known + unknown) == first
        last = ids_sent(upstream(sim)[-1])
    assert len(upstream(sim)) == 2
    assert sorted(last) == sorted(unknown)


async def test_validated_ids_are_remembered_for_60_days(open_client) -> None:  # type: ignore[no-untyped-def]
    async with open_client() as (client, sim):
        ids = [sim.catalog.spotify_id(i) for i in range(5)]
        await client.convert_ids(ids)
        await anyio.sleep(60 * DAY - 60)
        await client.convert_ids(ids)
        assert len(upstream(sim)) == 1
        await anyio.sleep(120)
        await client.convert_ids(ids)
    assert len(upstream(sim)) == 2


PER_ID = ClientConfig(batching={"audio_features_batch": False})
"""One request per ID: many requests from one call, to watch the limits."""


async def test_requests_never_closer_than_075s(open_client) -> None:  # type: ignore[no-untyped-def]
    async with open_client(PER_ID) as (client, sim):
        ids = [sim.catalog.track_uuid(i) for i in range(30)]
        features = await client.audio_features_many(ids)
    arrivals = sorted(r.arrival for r in upstream(sim))
    assert len(arrivals) == 30 and len(features) == 30
    assert min(b - a for a, b in itertools.pairwise(arrivals)) >= 0.75 - 1e-9


async def test_retry_after_is_honoured(open_client) -> None:  # type: ignore[no-untyped-def]
    # The upstream's true limit (3 per 10 s) is below the engine's budget (80/min).
    limit = UpstreamLimit(rules=[UpstreamRule(limit=3, window=10)], penalty_box=None)
    async with open_client(PER_ID, rate_limit=limit) as (client, sim):
        ids = [sim.catalog.track_uuid(i) for i in range(6)]
        features = await client.audio_features_many(ids)
        stats = client.stats()
    log = upstream(sim)
    assert len(features) == 6
    rejected = [r for r in log if r.outcome == "rate_limited"]
    assert rejected and stats.rate_limited == len(rejected)
    for r in rejected:
        later = [x.arrival for x in log if x.arrival > r.arrival]
        # Nothing is sent before the Retry-After (whole seconds, rounded up) has passed.
        assert not later or min(later) >= r.responded + 1 - 1e-9
    ok = sorted(r.arrival for r in log if r.outcome == "ok")
    assert all(b - a >= 10 - 1e-9 for a, b in zip(ok, ok[3:], strict=False))


async def test_5xx_burst_is_retried_with_backoff(open_client) -> None:  # type: ignore[no-untyped-def]
    burst = EndpointProfile(windows=[FaultWindow(start=0, end=3, rates=FaultRates(error=1.0))])
    # Enough attempts to outlast the burst whatever the jitter draws.
    config = ClientConfig(engine={"retry": {"attempts": 12}})
    async with open_client(config, service=burst) as (client, sim):
        track = await client.audio_features(sim.catalog.track_uuid(1))
        stats = client.stats()
    outcomes = [r.outcome for r in upstream(sim)]
    assert track is not None
    assert outcomes[-1] == "ok" and outcomes[0] == "error"
    assert stats.engine.retries.get("UpstreamServerError", 0) == len(outcomes) - 1


async def test_persistent_5xx_reaches_the_caller_and_is_not_cached(open_client) -> None:  # type: ignore[no-untyped-def]
    down = EndpointProfile(faults=FaultRates(error=1.0))
    config = ClientConfig(engine=engine_config(retry=RetryConfig(attempts=2)))
    async with open_client(config, service=down) as (client, sim):
        with pytest.raises(UpstreamServerError):
            await client.audio_features(sim.catalog.track_uuid(1))
        with pytest.raises(UpstreamServerError):
            await client.audio_features(sim.catalog.track_uuid(1))
    assert len(upstream(sim)) == 4


async def test_malformed_bodies_are_an_error_of_their_own_and_never_cached(open_client) -> None:  # type: ignore[no-untyped-def]
    broken = EndpointProfile(faults=FaultRates(malformed=1.0))
    config = ClientConfig(engine=engine_config(retry=RetryConfig(attempts=2)))
    async with open_client(config, service=broken) as (client, sim):
        with pytest.raises(MalformedResponse):
            await client.tracks([sim.catalog.track_uuid(1)])
        assert client.stats().engine.cache.namespaces["tracks"].size == 0


async def test_timeouts_are_bounded_by_the_engine_deadline(open_client) -> None:  # type: ignore[no-untyped-def]
    hang = EndpointProfile(faults=FaultRates(timeout=1.0))
    config = ClientConfig(engine=engine_config(attempt_timeout=5, retry=RetryConfig(attempts=2)))
    async with open_client(config, service=hang) as (client, sim):
        start = anyio.current_time()
        with pytest.raises(TimeoutError):
            await client.audio_features(sim.catalog.track_uuid(1))
        assert 10 <= anyio.current_time() - start < 12
        assert client.engine.stats().concurrency.in_use == 0


async def test_unknown_track_audio_features_is_none(open_client) -> None:  # type: ignore[no-untyped-def]
    async with open_client() as (client, sim):
        # Not any fixed UUID: every well-formed one outside the catalog is known with
        # probability 1 - unknown_share (simulator.upstream.catalog).
        assert await client.audio_features(sim.catalog.unknown_uuid(0)) is None


async def test_invalid_input_fails_before_any_request(open_client) -> None:  # type: ignore[no-untyped-def]
    async with open_client() as (client, sim):
        with pytest.raises(InvalidId, match="not-an-id"):
            await client.tracks(["not-an-id"])
        with pytest.raises(ValueError, match="size"):
            await client.recommendations([sim.catalog.track_uuid(0)], 101)
        with pytest.raises(ValueError, match="seeds"):
            await client.recommendations([sim.catalog.track_uuid(i) for i in range(6)], 10)
        with pytest.raises(ValueError, match="energy"):
            AudioTargets(energy=1.5)
    assert len(upstream(sim)) == 0


async def test_seed_chunks_are_staggered_and_bounded(open_client) -> None:  # type: ignore[no-untyped-def]
    config = ClientConfig(
        engine=engine_config(rate=RateLimitConfig(rules=(), min_interval=0)),
        batching=BatchingConfig(seed_chunk_stagger=0.2, seed_chunk_concurrency=3),
    )
    async with open_client(config) as (client, sim):
        seeds = [sim.catalog.track_uuid(i) for i in range(20)]
        candidates = await client.recommend_from_seeds(seeds, 30)
    sent = sorted(r.sent for r in upstream(sim, "/v1/track/recommendation"))
    assert len(sent) == 4
    assert [round(s - sent[0], 6) for s in sent] == [0.0, 0.2, 0.4, 0.6]
    assert len({t.id for t in candidates}) == len(candidates) > 30


async def test_playlist_seed_pool_conversions_share_the_registry(open_client) -> None:  # type: ignore[no-untyped-def]
    async with open_client() as (client, sim):
        pool = SeedPool(sim.catalog, size=200, seed=1)
        users = [pool.draw(f"user-{u}", 15) for u in range(10)]
        async with anyio.create_task_group() as tg:
            for seeds in users:
                tg.start_soon(client.convert_ids, seeds)
    distinct = {s for seeds in users for s in seeds}
    sent = [i for r in upstream(sim) for i in ids_sent(r)]
    assert len(sent) == len(distinct)  # every distinct ID sent exactly once


async def test_stats_snapshot_is_json(open_client) -> None:  # type: ignore[no-untyped-def]
    async with open_client() as (client, sim):
        await client.search_artists("a")
        await client.search_artists("a")
        await client.artists([sim.catalog.artist_uuid(0)])
        data = msgspec.json.decode(msgspec.json.encode(client.stats()))
    assert data["endpoints"]["artist_search"]["calls"] == 1
    assert data["engine"]["cache"]["namespaces"]["artists"]["hits"] == 1
    assert data["upstream_requests"] == 2


# -- batched audio features and lookups merged across callers ---------------------------------


async def test_audio_features_go_40_ids_a_request_by_either_kind_of_id(open_client) -> None:  # type: ignore[no-untyped-def]
    async with open_client() as (client, sim):
        uuids = [sim.catalog.track_uuid(i) for i in range(50)]
        spotify = [sim.catalog.spotify_id(i) for i in range(50, 75)]
        unknown = [sim.catalog.unknown_spotify_id(i) for i in range(5)]
        found = await client.audio_features_many(uuids + spotify + unknown)
        sent = [ids_sent(r) for r in upstream(sim)]
        assert {r.endpoint for r in upstream(sim)} == {"/v1/audio-features"}
        assert sorted(map(len, sent)) == [40, 40]
        assert sum(map(len, sent)) == 80  # every ID once, no conversion round trip first
        assert set(found) == set(uuids + spotify)  # unknown IDs absent, rows mapped by href
        assert all(found[s].spotify_id == s for s in spotify)
        assert found[uuids[0]].id == uuids[0]
        # Cached per ID, and shared with the single-ID call; the omitted Spotify IDs are in the
        # ID registry as unknown, so they are not asked for again.
        assert await client.audio_features_many(uuids + spotify + unknown) == found
        assert await client.audio_features(uuids[3]) == found[uuids[3]]
        assert await client.convert_ids(unknown) == dict.fromkeys(unknown)
        assert len(upstream(sim)) == 2


async def test_the_note_s_per_id_audio_features_stay_available(open_client) -> None:  # type: ignore[no-untyped-def]
    async with open_client(PER_ID) as (client, sim):
        uuids = [sim.catalog.track_uuid(i) for i in range(3)]
        spotify = [sim.catalog.spotify_id(i) for i in range(3, 5)]
        found = await client.audio_features_many(uuids + spotify)
    endpoints = [r.endpoint for r in upstream(sim)]
    assert endpoints.count("/v1/track/{id}/audio-features") == 5
    assert endpoints.count("/v1/track") == 1  # the Spotify IDs are converted first
    assert set(found) == set(uuids + spotify)


async def test_concurrent_callers_lookups_travel_together(open_client) -> None:  # type: ignore[no-untyped-def]
    async with open_client() as (client, sim):
        results: list[dict[str, Any]] = []

        async def ask(ids: list[str]) -> None:
            results.append(await client.tracks(ids))

        async with anyio.create_task_group() as tg:
            for start in (0, 5, 10):  # overlapping sets from three callers at one instant
                tg.start_soon(ask, [sim.catalog.track_uuid(i) for i in range(start, start + 10)])
        stats = client.stats()
    sent = [ids_sent(r) for r in upstream(sim, "/v1/track")]
    assert len(sent) == 1 and sorted(sent[0]) == sorted(
        sim.catalog.track_uuid(i) for i in range(20)
    )
    assert all(len(r) == 10 for r in results)
    assert stats.dedup_saved == 10  # the overlaps joined instead of being sent again


async def test_a_lookup_waiting_for_its_grant_takes_later_callers_ids(open_client) -> None:  # type: ignore[no-untyped-def]
    """One request every 0.75 s: IDs asked for while a request waits for its grant go with
    it, so three callers 0.2 s apart cost two requests, not three."""
    async with open_client() as (client, sim), anyio.create_task_group() as tg:
        for n in range(3):
            tg.start_soon(client.artists, [sim.catalog.artist_uuid(n)])
            await anyio.sleep(0.2)
    sent = [sorted(ids_sent(r)) for r in upstream(sim, "/v1/artist")]
    assert sent == [
        [sim.catalog.artist_uuid(0)],
        sorted(sim.catalog.artist_uuid(n) for n in (1, 2)),
    ]
