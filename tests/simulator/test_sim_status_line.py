"""Status lines over a real HTTP/1.1 socket carry the standard reason phrase, in REAL time."""

from __future__ import annotations

import anyio
import msgspec
import pytest

from engine.clock import SystemClock
from simulator import RateLimitConfig, RateLimitRule, RecoBeatSimulator

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return request.param


async def raw_get(url: str, target: str) -> tuple[bytes, bytes]:
    """``GET target`` over a fresh HTTP/1.1 connection: (status line, body)."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    async with await anyio.connect_tcp(host, int(port)) as stream:
        request = f"GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        await stream.send(request.encode("ascii"))
        received = b""
        try:
            while True:
                received += await stream.receive()
        except anyio.EndOfStream:
            pass
    head, _, body = received.partition(b"\r\n\r\n")
    return head.split(b"\r\n", 1)[0], body


async def test_status_lines_have_reason_phrases(catalog, quiet, serve_simulator) -> None:  # type: ignore[no-untyped-def]
    limits = RateLimitConfig(rules=[RateLimitRule(2, 60.0)], penalty_box=None)
    sim = RecoBeatSimulator(quiet(rate_limit=limits), clock=SystemClock(), catalog=catalog)
    known = catalog.spotify_id(1)

    async def body(url: str) -> None:
        line, content = await raw_get(url, "/v1/track/recommendation?size=0&seeds=" + known)
        assert line == b"HTTP/1.1 400 Bad Request"
        message = "size: must be in 1..100, got 0"
        assert msgspec.json.decode(content) == {"status": 4004, "errors": [{"message": message}]}
        line, _ = await raw_get(url, f"/v1/track/{catalog.unknown_spotify_id(1)}/audio-features")
        assert line == b"HTTP/1.1 404 Not Found"
        line, _ = await raw_get(url, "/v1/track?ids=" + known)
        assert line == b"HTTP/1.1 429 Too Many Requests"  # the third request in a minute

    await serve_simulator(sim, body)
    assert [r.status for r in sim.log] == [400, 404, 429]


async def test_a_200_and_a_503_over_a_raw_socket(catalog, quiet, serve_simulator) -> None:  # type: ignore[no-untyped-def]
    from simulator import EndpointProfile, FaultRates, LatencyModel

    failing = EndpointProfile(latency=LatencyModel(0.0, 0.0), faults=FaultRates(error=1.0))
    sim = RecoBeatSimulator(
        quiet(endpoints={"/v1/artist": failing}), clock=SystemClock(), catalog=catalog
    )

    async def body(url: str) -> None:
        line, _ = await raw_get(url, "/v1/track?ids=" + catalog.spotify_id(1))
        assert line == b"HTTP/1.1 200 OK"
        line, content = await raw_get(url, "/v1/artist?ids=" + catalog.artist_spotify_id(1))
        status = int(line.split()[1])
        assert (
            status >= 500
            and line.decode()
            == f"HTTP/1.1 {status} "
            + {
                500: "Internal Server Error",
                502: "Bad Gateway",
                503: "Service Unavailable",
                504: "Gateway Timeout",
            }[status]
        )
        assert msgspec.json.decode(content)["status"] == status * 10

    await serve_simulator(sim, body)
