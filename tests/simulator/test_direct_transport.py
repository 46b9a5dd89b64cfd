"""The client's direct transport to the simulator (no httpx), in virtual time on both backends.

It must be invisible: the simulator sees the same requests as through httpx (same raw query,
same client), so it draws the same answers, delays and faults, and the client behaves the same.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import msgspec
import pytest

from engine import RetryConfig, VirtualClock
from recobeat.client import RecoBeatClient
from recobeat.config import ClientConfig, HttpConfig
from recobeat.errors import BadRequest, UpstreamConnectionError
from recobeat.transport import Transport, TransportError
from simulator import (
    DirectTransport,
    EndpointProfile,
    FaultRates,
    LatencyModel,
    RateLimitConfig,
    RateLimitRule,
    SimulatorTransport,
)
from simulator.replay.report import build_report
from simulator.replay.runner import run_scenario
from simulator.replay.scenario import load_scenario

pytestmark = pytest.mark.anyio
SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


async def test_round_trip_costs_network_plus_service_time(make_simulator) -> None:  # type: ignore[no-untyped-def]
    sim = make_simulator(
        network=LatencyModel(median=0.03, p99=0.03),
        service=EndpointProfile(latency=LatencyModel(median=0.2, p99=0.2)),
    )
    transport = DirectTransport(sim, client_id="c1")
    start = anyio.current_time()
    response = await transport.request("GET", "/v1/track", [("ids", sim.catalog.spotify_id(1))], {})
    assert anyio.current_time() - start == pytest.approx(0.23)
    assert response.status == 200
    assert msgspec.json.decode(response.body)["content"][0]["id"] == sim.catalog.track_uuid(1)
    (record,) = sim.log
    assert (record.client, record.endpoint, record.status, record.outcome) == (
        "c1",
        "/v1/track",
        200,
        "ok",
    )
    assert record.sent == pytest.approx(start)


async def test_the_simulator_sees_what_httpx_would_send(make_simulator) -> None:  # type: ignore[no-untyped-def]
    # A query that needs encoding (spaces, '+', '&', non-ASCII) and a repeated list parameter:
    # both transports give the simulator the same raw query, so the same canonical parameters.
    query = [("searchText", "a b+c&d=é,;/"), ("page", "0"), ("size", "5")]
    logs = []
    for make_transport in (SimulatorTransport, DirectTransport):
        sim = make_simulator()
        config = ClientConfig(http=HttpConfig(base_url="http://t", client_id="backend-7"))
        async with RecoBeatClient(config, transport=make_transport(sim), seed=1) as client:
            await client.search_artists(query[0][1], size=5)
            ids = [sim.catalog.spotify_id(i) for i in range(3)]
            await client.tracks(ids)
        logs.append([(r.client, r.path, r.params, r.status) for r in sim.log])
    assert logs[0] == logs[1]
    assert {client for client, *_ in logs[1]} == {"backend-7"}  # the header wins over the peer


async def test_429_headers_reach_the_client(make_simulator) -> None:  # type: ignore[no-untyped-def]
    sim = make_simulator(
        rate_limit=RateLimitConfig(rules=[RateLimitRule(1, 10.0)], rejection_latency=0.0)
    )
    transport = DirectTransport(sim, client_id="c1")
    query = [("ids", sim.catalog.spotify_id(1))]
    assert (await transport.request("GET", "/v1/track", query, {})).status == 200
    rejected = await transport.request("GET", "/v1/track", query, {})
    assert rejected.status == 429
    assert rejected.headers["retry-after"] == "10"
    other = await transport.request("GET", "/v1/track", query, {"x-client-id": "c2"})
    assert other.status == 200  # the header identifies another client


async def test_timeout_never_answers_and_reset_raises(make_simulator) -> None:  # type: ignore[no-untyped-def]
    sim = make_simulator(
        service=EndpointProfile(latency=LatencyModel(0.0, 0.0), faults=FaultRates(timeout=1.0))
    )
    query = [("ids", sim.catalog.spotify_id(1))]
    with pytest.raises(TimeoutError):
        with anyio.fail_after(30):
            await DirectTransport(sim).request("GET", "/v1/track", query, {})
    assert anyio.current_time() == pytest.approx(30)
    sim = make_simulator(
        service=EndpointProfile(latency=LatencyModel(0.5, 0.5), faults=FaultRates(reset=1.0))
    )
    with pytest.raises(TransportError):
        await DirectTransport(sim).request("GET", "/v1/track", query, {})
    assert anyio.current_time() == pytest.approx(30.5)
    assert sim.log.records()[0].outcome == "reset"


async def test_the_client_turns_resets_and_errors_into_its_own(make_simulator) -> None:  # type: ignore[no-untyped-def]
    sim = make_simulator(
        service=EndpointProfile(latency=LatencyModel(0.0, 0.0), faults=FaultRates(reset=1.0))
    )
    config = ClientConfig()
    config = msgspec.structs.replace(
        config,
        engine=msgspec.structs.replace(config.engine, retry=RetryConfig(attempts=2)),
    )
    async with RecoBeatClient(config, transport=DirectTransport(sim), clock=VirtualClock()) as c:
        with pytest.raises(UpstreamConnectionError, match="connection reset"):
            await c.tracks([sim.catalog.spotify_id(1)])
        assert c.stats().endpoints["tracks"].statuses == {"error": 2}
    async with RecoBeatClient(transport=DirectTransport(make_simulator())) as c:
        with pytest.raises(BadRequest, match="malformed ID 'x'"):
            await c._get("artist_tracks", "/v1/artist/x/track", {}, Any)


def test_a_transport_and_an_http_client_do_not_mix(make_simulator) -> None:  # type: ignore[no-untyped-def]
    import httpx

    with pytest.raises(ValueError, match="not both"):
        RecoBeatClient(http=httpx.AsyncClient(), transport=DirectTransport(make_simulator()))
    assert isinstance(DirectTransport(make_simulator()), Transport)


def test_a_replay_reports_the_same_bytes_through_httpx_and_directly(
    anyio_backend: tuple[str, Any],
) -> None:
    scenario = load_scenario(SCENARIOS / "upstream-faults.toml")
    backend = anyio_backend[0]
    reports = [
        msgspec.json.encode(build_report(run_scenario(scenario, backend, transport=transport)))  # type: ignore[arg-type]
        for transport in ("httpx", "direct")
    ]
    assert reports[0] == reports[1]


def test_a_wire_response_shows_its_status_and_size() -> None:
    from recobeat.transport import WireResponse

    assert repr(WireResponse(429, {}, b'{"status": 429}')) == "<WireResponse [429, 15 bytes]>"


# Query pairs that parse exactly as their form encoding: repeated names, comma lists with
# blanks, characters that need encoding, empty names and values, a bad request.
_PAIRS = [
    (),
    (("ids", "a,, b ,c"), ("ids", ""), ("ids", "d")),
    (("seeds", "z,y"), ("seeds", "x"), ("negativeSeeds", " w ,"), ("size", "3"), ("size", "4")),
    (("searchText", "a b+c&d=%2C;/?#"), ("", ""), ("", "v"), ("n", ""), ("page", "-1")),
    (("size", "x"), ("seeds", "not-an-id"), ("energy", "2.5"), ("featureWeight", "nan")),
]


@pytest.mark.parametrize("pairs", _PAIRS)
def test_pairs_parse_as_their_encoding(pairs: tuple[tuple[str, str], ...]) -> None:
    from urllib.parse import urlencode

    from simulator.upstream.api import parse_canonical, parse_pairs, parse_query, request_params
    from simulator.upstream.messages import Request

    query = urlencode(pairs)
    assert parse_pairs(pairs) == parse_query(query)
    assert request_params(Request("GET", "/v1/x", pairs=pairs)) == parse_canonical(query)


@pytest.mark.parametrize("path", ["/v1/track/recommendation", "/v1/track", "/v1/artist/search"])
@pytest.mark.parametrize("pairs", _PAIRS)
def test_pairs_answer_as_their_encoding(make_simulator, path: str, pairs) -> None:  # type: ignore[no-untyped-def]
    from urllib.parse import urlencode

    from simulator.upstream.messages import Request

    api = make_simulator().api
    by_query = Request("GET", path, urlencode(pairs))
    by_pairs = Request("GET", path, pairs=pairs)
    assert api.handle(by_pairs) == api.handle(by_query)
    assert api.respond_memo(by_pairs) == api.respond_memo(by_query) == api.handle(by_query)


async def test_direct_transport_passes_ascii_pairs_and_encodes_the_rest(make_simulator) -> None:  # type: ignore[no-untyped-def]
    sim = make_simulator()
    seen = []
    exchange = sim.exchange

    async def spy(request):  # type: ignore[no-untyped-def]
        seen.append((request.query, request.pairs))
        return await exchange(request)

    sim.exchange = spy
    transport = DirectTransport(sim)
    path = "/v1/artist/search"
    await transport.request("GET", path, [("searchText", "a b&c"), ("size", "5")], {})
    await transport.request("GET", path, [("searchText", "é"), ("size", "5")], {})
    assert seen == [
        ("", (("searchText", "a b&c"), ("size", "5"))),
        ("searchText=%C3%A9&size=5", None),
    ]
    assert sim.log.records()[0].params == "searchText=a+b%26c&size=5"
