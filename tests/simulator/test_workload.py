"""One playlist generation against the simulator: the RecoBeat traffic it makes, cold and warm."""

from __future__ import annotations

from collections import Counter
from typing import Any

import anyio
import httpx
import msgspec
import pytest

from engine import VirtualClock
from recobeat.client import RecoBeatClient
from recobeat.config import ClientConfig, HttpConfig
from recobeat.stats_app import STATS_PATH, stats_app
from recobeat.targets import AudioTargets
from simulator import SeedPool, SimulatorTransport
from simulator.workload import PlaylistPlan, generate_playlist

pytestmark = pytest.mark.anyio


def plan(pool: SeedPool, user: str, *, refine: bool = False) -> PlaylistPlan:
    return PlaylistPlan(
        id=user,
        seeds=tuple(pool.draw(user, 12)),
        targets=AudioTargets(energy=0.7, valence=0.6),
        mood_think=4.0,
        artist_searches=("the",),
        refine=AudioTargets(energy=0.6, valence=0.7) if refine else None,
    )


async def run(make_simulator: Any, plans: list[PlaylistPlan]) -> tuple[list[Any], Any, Any]:
    sim = make_simulator()
    config = ClientConfig(http=HttpConfig(base_url="http://recobeat.test", client_id="b1"))
    async with RecoBeatClient(
        config, transport=SimulatorTransport(sim), clock=VirtualClock(), seed=1
    ) as client:
        outcomes = []
        for p in plans:
            outcomes.append(await generate_playlist(client, p))
        return outcomes, sim, client.stats()


async def test_cold_then_warm_generation(make_simulator, catalog) -> None:  # type: ignore[no-untyped-def]
    pool = SeedPool(catalog, size=300, seed=2)
    first = plan(pool, "u1", refine=True)
    outcomes, sim, stats = await run(make_simulator, [first, first])
    cold, warm = outcomes
    assert cold.error is None and warm.error is None
    assert len(cold.tracks) == 25 and warm.tracks == cold.tracks
    by_endpoint = Counter(r.endpoint for r in sim.log)
    # No /v1/track: the seeds' features, asked by Spotify ID, convert them too.
    assert set(by_endpoint) >= {
        "/v1/audio-features",
        "/v1/track/recommendation",
        "/v1/artist",
        "/v1/artist/search",
    }
    cold_calls = sum(1 for r in sim.log if r.arrival <= cold.finished)
    warm_calls = len(sim.log) - cold_calls
    # A cold generation costs about a dozen requests at 0.75 s each (audio features go 40
    # IDs a request: the seeds', then each round's candidates); a repeat costs none.
    assert by_endpoint["/v1/audio-features"] <= 4
    assert "/v1/track" not in by_endpoint
    assert 8 <= cold_calls <= 20
    assert warm_calls == 0
    assert cold.latency > 0.75 * (cold_calls - 1)
    # Only the LLM's think time (4 s + 2 s refining) and the seed chunks' stagger are left:
    # at most 12 seeds make 3 chunks, started 0.2 s apart, in each of the two rounds.
    assert 6.0 <= warm.latency <= 6.0 + 2 * 0.4 + 1e-9
    assert stats.engine.cache.namespaces["recommendations"].hits > 0


async def test_generation_reports_upstream_failure(make_simulator, catalog) -> None:  # type: ignore[no-untyped-def]
    from simulator import EndpointProfile, FaultRates

    sim = make_simulator(service=EndpointProfile(faults=FaultRates(error=1.0)))
    async with RecoBeatClient(
        ClientConfig(http=HttpConfig(base_url="http://x")),
        transport=SimulatorTransport(sim),
        clock=VirtualClock(),
        seed=1,
    ) as client:
        outcome = await generate_playlist(client, plan(SeedPool(catalog, size=50, seed=2), "u"))
    assert outcome.error == "UpstreamServerError"
    assert outcome.tracks == ()


async def test_stats_endpoint(make_simulator, catalog) -> None:  # type: ignore[no-untyped-def]
    sim = make_simulator()
    async with RecoBeatClient(
        ClientConfig(http=HttpConfig(base_url="http://x")),
        transport=SimulatorTransport(sim),
        clock=VirtualClock(),
        seed=1,
    ) as client:
        await client.tracks([catalog.track_uuid(0)])
        await client.tracks([catalog.track_uuid(0)])
        app = stats_app(client)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://backend"
        ) as http:
            ok = await http.get(STATS_PATH)
            missing = await http.get("/elsewhere")
            wrong = await http.post(STATS_PATH)
    assert ok.status_code == 200
    data = msgspec.json.decode(ok.content)
    assert data["engine"]["cache"]["namespaces"]["tracks"]["hits"] == 1
    assert data["upstream_requests"] == 1
    assert (missing.status_code, wrong.status_code) == (404, 405)


async def test_concurrent_generations_share_work(make_simulator, catalog) -> None:  # type: ignore[no-untyped-def]
    pool = SeedPool(catalog, size=100, seed=3)
    sim = make_simulator()
    config = ClientConfig(http=HttpConfig(base_url="http://x"))
    async with RecoBeatClient(
        config, transport=SimulatorTransport(sim), clock=VirtualClock(), seed=1
    ) as client:
        outcomes: list[Any] = []

        async def one(user: str, delay: float) -> None:
            await anyio.sleep(delay)
            outcomes.append(await generate_playlist(client, plan(pool, user)))

        async with anyio.create_task_group() as tg:
            for i in range(5):
                tg.start_soon(one, f"user-{i}", i * 0.001)
        stats = client.stats()
    assert all(o.error is None for o in outcomes)
    assert stats.dedup_saved > 0
    # Identical in-flight requests were never sent twice at once.
    keys = Counter((r.path, r.params) for r in sim.log)
    assert max(keys.values()) == 1
