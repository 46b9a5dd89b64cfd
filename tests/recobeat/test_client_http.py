"""The client over real sockets against the simulator's HTTP server, in REAL time.

The engine's rate limit is lifted here so that no test waits in real time; the limits
themselves are tested in virtual time.
"""

from __future__ import annotations

import httpx
import pytest

from engine import RateLimitConfig, SystemClock
from recobeat.client import RecoBeatClient
from recobeat.config import BatchingConfig, ClientConfig, HttpConfig
from simulator import RateLimitConfig as UpstreamLimit
from simulator import RateLimitRule, RecoBeatSimulator
from tests.engine_configs import engine_config

pytestmark = pytest.mark.anyio

UNLIMITED = engine_config(rate=RateLimitConfig(rules=(), min_interval=0))
GENEROUS_UPSTREAM = UpstreamLimit(rules=[RateLimitRule(limit=10_000, window=1)])


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.mark.parametrize("http1", [True, False], ids=["http1", "h2c"])
async def test_client_over_http(catalog, quiet, serve_simulator, http1: bool) -> None:  # type: ignore[no-untyped-def]
    sim = RecoBeatSimulator(
        quiet(rate_limit=GENEROUS_UPSTREAM), clock=SystemClock(), catalog=catalog
    )
    spotify = [catalog.spotify_id(i) for i in range(45)] + [catalog.unknown_spotify_id(0)]

    async def body(url: str) -> None:
        config = ClientConfig(
            http=HttpConfig(base_url=url, http1=http1, client_id="backend-7"),
            engine=UNLIMITED,
            batching=BatchingConfig(seed_chunk_stagger=0),  # no real-time waits in tests
        )
        async with RecoBeatClient(config) as client:
            converted = await client.convert_ids(spotify)
            features = await client.audio_features_many(
                [v for v in converted.values() if v is not None][:12]
            )
            recs = await client.recommend_from_seeds(list(features), 10)
        assert converted[spotify[-1]] is None
        assert sum(v is not None for v in converted.values()) == 45
        assert len(features) == 12 and len(recs) >= 10

    await serve_simulator(sim, body)
    assert {r.client for r in sim.log} == {"backend-7"}
    assert [r.endpoint for r in sim.log][:2] == ["/v1/track", "/v1/track"]
    assert all(r.outcome == "ok" for r in sim.log)


async def test_callers_own_http2_client_is_used(catalog, quiet, serve_simulator) -> None:  # type: ignore[no-untyped-def]
    sim = RecoBeatSimulator(
        quiet(rate_limit=GENEROUS_UPSTREAM), clock=SystemClock(), catalog=catalog
    )
    versions: list[str] = []

    async def record(response: httpx.Response) -> None:
        versions.append(response.http_version)

    async def body(url: str) -> None:
        async with httpx.AsyncClient(
            base_url=url, http1=False, http2=True, event_hooks={"response": [record]}
        ) as http:
            async with RecoBeatClient(ClientConfig(engine=UNLIMITED), http=http) as client:
                found = await client.tracks([catalog.track_uuid(i) for i in range(3)])
                assert len(found) == 3
            assert not http.is_closed  # the client did not close what it did not open

    await serve_simulator(sim, body)
    assert versions == ["HTTP/2"]
