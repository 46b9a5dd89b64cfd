"""The simulator over real sockets (HTTP/1.1 and h2c), in REAL time: no virtual clock here."""

from __future__ import annotations

import httpx
import pytest

from engine.clock import SystemClock
from simulator import EndpointProfile, FaultRates, LatencyModel, RecoBeatSimulator
from simulator.cli import build_parser

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.mark.parametrize("http2", [False, True], ids=["http1", "h2c"])
async def test_serves_the_same_api_over_http(catalog, quiet, serve_simulator, http2: bool) -> None:  # type: ignore[no-untyped-def]
    sim = RecoBeatSimulator(quiet(), clock=SystemClock(), catalog=catalog)
    ids = [catalog.spotify_id(1), catalog.unknown_spotify_id(1)]

    async def body(url: str) -> None:
        assert url.startswith("http://127.0.0.1:")
        async with httpx.AsyncClient(base_url=url, http1=not http2, http2=http2) as http:
            tracks = await http.get("/v1/track", params={"ids": ids}, headers={"X-Client-Id": "me"})
            assert tracks.http_version == ("HTTP/2" if http2 else "HTTP/1.1")
            assert tracks.status_code == 200
            assert [t["id"] for t in tracks.json()["content"]] == [catalog.track_uuid(1)]
            missing = await http.get(f"/v1/track/{ids[1]}/audio-features")
            assert missing.status_code == 404 and missing.json()["status"] == 4040
            bad = await http.get("/v1/track/recommendation", params={"size": 101, "seeds": ids[0]})
            assert bad.status_code == 400

    await serve_simulator(sim, body)
    assert [(r.client, r.status) for r in sim.log] == [
        ("me", 200),
        ("127.0.0.1", 404),
        ("127.0.0.1", 400),
    ]


async def test_reset_drops_the_http1_connection(catalog, quiet, serve_simulator) -> None:  # type: ignore[no-untyped-def]
    faulty = EndpointProfile(latency=LatencyModel(0.0, 0.0), faults=FaultRates(reset=1.0))
    sim = RecoBeatSimulator(quiet(service=faulty), clock=SystemClock(), catalog=catalog)

    async def body(url: str) -> None:
        async with httpx.AsyncClient(base_url=url) as http:
            with pytest.raises(httpx.RemoteProtocolError):
                await http.get("/v1/track", params={"ids": catalog.spotify_id(1)})

    await serve_simulator(sim, body)
    assert sim.log.records()[0].outcome == "reset"


def test_cli_parses_serve() -> None:
    args = build_parser().parse_args(["serve", "--port", "9001", "--seed", "3"])
    assert (args.command, args.port, args.host, args.seed, args.config) == (
        "serve",
        9001,
        "127.0.0.1",
        3,
        None,
    )
    with pytest.raises(SystemExit):
        build_parser().parse_args([])
