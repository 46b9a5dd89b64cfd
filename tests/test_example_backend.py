"""The example backend (examples/fastapi_backend, issue 15) against the in-process simulator.

The app runs through httpx's ASGI transport, which does not run the lifespan: each test enters
``app.router.lifespan_context(app)`` itself, so the client is opened and closed as a server
would. Everything runs in virtual time (conftest's ``anyio_backend``), on asyncio and trio.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qs

import anyio
import httpx
import pytest

pytest.importorskip("fastapi", reason="the example backend needs the 'example' extra")

from fastapi import FastAPI

from engine import CircuitOpen, RateLimited, RateLimitTimeout, UpstreamTimeout, VirtualClock
from engine.shared import InProcessRedis
from examples.fastapi_backend.app import Settings, create_app, error_response
from examples.fastapi_backend.playlist import NoKnownSeeds
from recobeat.config import ClientConfig
from recobeat.errors import (
    BadRequest,
    MalformedResponse,
    UpstreamConnectionError,
    UpstreamServerError,
)
from recobeat.ids import InvalidId
from simulator import (
    EndpointProfile,
    FaultRates,
    LatencyModel,
    RecoBeatSimulator,
    SimulatorTransport,
)

pytestmark = pytest.mark.anyio

PLAYLISTS = "/api/playlists"


@asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The app as a server runs it: lifespan entered, requests through ASGI, lifespan exited."""
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://app") as http,
    ):
        yield http


@pytest.fixture
def sim(make_simulator: Callable[..., RecoBeatSimulator]) -> RecoBeatSimulator:
    return make_simulator()


def backend(sim: RecoBeatSimulator, settings: Settings | None = None, **kw: Any) -> FastAPI:
    return create_app(settings or Settings(), transport=SimulatorTransport(sim), **kw)


def seeds(sim: RecoBeatSimulator, n: int = 3) -> list[str]:
    return [sim.catalog.spotify_id(i) for i in range(n)]


def one_line_error(response: httpx.Response) -> str:
    body = response.json()
    assert set(body) == {"error"}, body
    message = body["error"]
    assert message and "\n" not in message, message
    return message  # type: ignore[no-any-return]


async def test_a_playlist_comes_back_and_the_same_request_is_then_served_from_cache(
    sim: RecoBeatSimulator,
) -> None:
    unknown = sim.catalog.unknown_spotify_id(0)
    body = {"seeds": [*seeds(sim), unknown], "size": 10, "mood": {"energy": 0.7}}
    async with running(backend(sim)) as http:
        first = await http.post(PLAYLISTS, json=body)
        assert first.status_code == 200, first.text
        playlist = first.json()
        assert len(playlist["tracks"]) == 10
        assert playlist["unknown_seeds"] == [unknown]
        assert len(playlist["seeds"]) == 3
        assert playlist["mood"] == {"energy": 0.7}
        track = playlist["tracks"][0]
        assert re.fullmatch(r"[0-9a-f-]{36}", track["id"]) and track["artists"]
        # ranked by distance to the target energy, closest first
        distances = [abs(t["mood"]["energy"] - 0.7) for t in playlist["tracks"]]
        assert distances == sorted(distances)
        sent = Counter(r.path for r in sim.log)
        assert sent["/v1/track/recommendation"] >= 1 and sent["/v1/audio-features"] >= 1

        second = await http.post(PLAYLISTS, json=body)
        assert second.status_code == 200
        assert second.json() == playlist
        assert Counter(r.path for r in sim.log) == sent, "the repeat reached the upstream"

        stats = (await http.get("/api/cache/stats")).json()
        namespaces = stats["engine"]["cache"]["namespaces"]
        assert namespaces["recommendations"]["hits"] >= 1
        assert namespaces["audio_features"]["hits"] >= 1
        assert stats["upstream_requests"] == len(sim.log)


async def test_reccobeats_ids_are_seeds_too_and_the_mood_defaults_to_the_seeds(
    sim: RecoBeatSimulator,
) -> None:
    uuids = [sim.catalog.track_uuid(i) for i in range(2)]
    async with running(backend(sim)) as http:
        response = await http.post(PLAYLISTS, json={"seeds": uuids, "size": 5})
    assert response.status_code == 200, response.text
    playlist = response.json()
    assert playlist["seeds"] == sorted(uuids) and playlist["unknown_seeds"] == []
    assert len(playlist["tracks"]) == 5
    assert set(playlist["mood"]) == {"energy", "valence", "danceability", "acousticness"}


async def test_concurrent_identical_requests_share_every_upstream_call(
    sim: RecoBeatSimulator,
) -> None:
    body = {"seeds": seeds(sim, 7), "size": 10}
    answers: list[httpx.Response] = []
    async with running(backend(sim)) as http:

        async def post() -> None:
            answers.append(await http.post(PLAYLISTS, json=body))

        async with anyio.create_task_group() as tg:
            for _ in range(5):
                tg.start_soon(post)
        stats = (await http.get("/api/cache/stats")).json()
    assert stats["dedup_saved"] > 0  # the four later requests joined the first one's calls
    assert [a.status_code for a in answers] == [200] * 5
    assert all(a.json() == answers[0].json() for a in answers)
    # Each ID was asked for once, and no identical request was sent twice.
    for path in ("/v1/audio-features", "/v1/track"):
        ids = [
            i for r in sim.log if r.path == path for i in parse_qs(r.params)["ids"][0].split(",")
        ]
        assert len(ids) == len(set(ids)), (path, Counter(ids).most_common(3))
    assert sim.log, "nothing reached the upstream"
    recommendations = [r.params for r in sim.log if r.path == "/v1/track/recommendation"]
    assert len(recommendations) == 2  # 7 seeds: chunks of 5 and 2
    assert len(set(recommendations)) == len(recommendations)


async def test_metrics_parse_and_count_what_reached_the_upstream(sim: RecoBeatSimulator) -> None:
    parser = pytest.importorskip("prometheus_client.parser")
    async with running(backend(sim)) as http:
        await http.post(PLAYLISTS, json={"seeds": seeds(sim), "size": 5})
        await http.post(PLAYLISTS, json={"seeds": seeds(sim), "size": 5})
        response = await http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in parser.text_string_to_metric_families(response.text)
        for s in family.samples
    }
    assert samples[("engine_upstream_attempts_total", ())] == len(sim.log) > 0
    assert samples[("engine_cache_hits_total", (("namespace", "recommendations"),))] >= 1
    assert samples[("engine_rate_granted_total", ())] == len(sim.log)
    # The client's own families: every answer, by endpoint and status.
    answered = sum(
        v for (name, _), v in samples.items() if name == "recobeat_upstream_responses_total"
    )
    assert answered == len(sim.log)
    assert samples[("recobeat_dedup_saved_total", ())] >= 0


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ({"seeds": ["not-an-id"]}, 400, "'not-an-id'"),
        ({"seeds": []}, 422, "seeds: "),
        ({"seeds": ["4uLU6hMCjMI75M1A2tKUQC"], "size": 0}, 422, "size: "),
        ({"seeds": ["4uLU6hMCjMI75M1A2tKUQC"], "mood": {"energy": 2}}, 422, "mood.energy: "),
        ({"size": 3}, 422, "seeds: "),
    ],
)
async def test_bad_input_is_a_4xx_with_a_one_line_message_and_sends_nothing(
    sim: RecoBeatSimulator, body: dict[str, Any], status: int, says: str
) -> None:
    async with running(backend(sim)) as http:
        response = await http.post(PLAYLISTS, json=body)
    assert response.status_code == status
    assert says in one_line_error(response)
    assert len(sim.log) == 0


async def test_seeds_nobody_knows_are_a_422(sim: RecoBeatSimulator) -> None:
    unknown = [sim.catalog.unknown_spotify_id(n) for n in range(2)]
    async with running(backend(sim)) as http:
        response = await http.post(PLAYLISTS, json={"seeds": unknown})
    assert response.status_code == 422
    assert "knows none of the seeds" in one_line_error(response)


async def test_a_failing_upstream_is_a_502(
    make_simulator: Callable[..., RecoBeatSimulator],
) -> None:
    sim = make_simulator(service=EndpointProfile(faults=FaultRates(error=1.0)))
    async with running(backend(sim)) as http:
        response = await http.post(PLAYLISTS, json={"seeds": seeds(sim)})
    assert response.status_code == 502
    assert one_line_error(response).startswith("audio_features_batch: 5")
    assert len(sim.log) == 4  # the engine's four attempts, then the error


async def test_an_open_circuit_is_a_503_with_retry_after_and_sends_nothing(
    make_simulator: Callable[..., RecoBeatSimulator],
) -> None:
    sim = make_simulator(service=EndpointProfile(faults=FaultRates(error=1.0)))
    breaker = {"min_calls": 2, "window": 600, "cooldown": 300}
    settings = Settings(client=ClientConfig(engine={"breaker": breaker}))
    body = {"seeds": seeds(sim)}
    async with running(backend(sim, settings)) as http:
        opened = await http.post(PLAYLISTS, json=body)
        sent = len(sim.log)
        refused = await http.post(PLAYLISTS, json=body)
    for response in (opened, refused):
        assert response.status_code == 503
        assert one_line_error(response).startswith("circuit open for '/v1/audio-features'")
        assert 1 <= int(response.headers["retry-after"]) <= 300
    assert len(sim.log) == sent == 2, "an open circuit sent a request"


async def test_a_playlist_that_takes_longer_than_the_timeout_is_a_503(
    make_simulator: Callable[..., RecoBeatSimulator],
) -> None:
    slow = LatencyModel(median=20.0, p99=20.0)
    sim = make_simulator(service=EndpointProfile(latency=slow))
    async with running(backend(sim, Settings(playlist_timeout=5.0))) as http:
        started = anyio.current_time()
        response = await http.post(PLAYLISTS, json={"seeds": seeds(sim)})
        assert anyio.current_time() - started == pytest.approx(5.0)  # virtual seconds
    assert response.status_code == 503
    assert "no playlist within 5 s" in one_line_error(response)


async def test_the_client_is_closed_when_the_lifespan_ends(sim: RecoBeatSimulator) -> None:
    app = backend(sim)
    before = len(anyio.get_running_tasks())
    async with running(app) as http:
        assert (await http.get("/healthz")).json() == {"status": "ok"}
        client = app.state.recobeat
        await http.post(PLAYLISTS, json={"seeds": seeds(sim), "size": 5})
    assert len(anyio.get_running_tasks()) == before, "the lifespan left tasks running"
    assert not hasattr(app.state, "recobeat")
    with pytest.raises(RuntimeError):  # its HTTP pool is closed
        await client._http.get("/v1/track")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://a"
    ) as http:
        response = await http.get("/healthz")
    assert response.status_code == 503
    assert one_line_error(response) == "the service is starting or stopping"


async def test_instances_sharing_a_redis_share_the_cache(
    make_simulator: Callable[..., RecoBeatSimulator],
) -> None:
    sim = make_simulator()
    # The twin's clock must be virtual too: its limiter script reads the time (a real wall
    # clock would stand still while virtual sleeps pass, and the budget would never refill).
    redis = InProcessRedis(clock=VirtualClock())
    body = {"seeds": seeds(sim), "size": 5}
    async with running(backend(sim, redis=redis)) as one:
        first = await one.post(PLAYLISTS, json=body)
    sent = len(sim.log)
    async with running(backend(sim, redis=redis)) as other:  # a second instance, fresh memory
        second = await other.post(PLAYLISTS, json=body)
        tiers = (await other.get("/api/cache/stats")).json()["engine"]["tiers"]
    assert first.status_code == second.status_code == 200
    assert second.json() == first.json()
    assert len(sim.log) == sent > 0, "the second instance asked the upstream again"
    assert tiers["shared_hits"] >= 1


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (InvalidId("invalid seed: 'x'"), 400),
        (NoKnownSeeds("none"), 422),
        (CircuitOpen("/v1/track", 12.0), 503),
        (RateLimitTimeout.next_at(12.0), 503),
        (RateLimited("429", retry_after=30.0), 503),
        (UpstreamTimeout("slow"), 504),
        (UpstreamServerError("503"), 502),
        (UpstreamConnectionError("reset"), 502),
        (MalformedResponse("truncated"), 502),
        (BadRequest(400, "bad\n  size"), 502),
        (KeyError("a bug"), 500),
    ],
)
def test_each_error_has_its_status(error: Exception, status: int) -> None:
    response = error_response(error)
    assert response.status_code == status
    text = response.body.decode()
    assert "\\n" not in text
    if status == 500:
        assert "a bug" not in text
    if isinstance(error, CircuitOpen | RateLimited):
        assert response.headers["retry-after"] in {"12", "30"}
