"""The simulator through httpx in-process, in virtual time on both backends."""

from __future__ import annotations

import hashlib
import itertools
import json

import anyio
import httpx
import pytest

from engine.virtual import run_virtual
from simulator import (
    EndpointProfile,
    FaultRates,
    FaultWindow,
    LatencyModel,
    RateLimitConfig,
    RateLimitRule,
    RecoBeatSimulator,
    RequestLog,
    SimulatorTransport,
)

pytestmark = pytest.mark.anyio
BASE = "http://recobeat.test"
UNLIMITED = RateLimitConfig(rules=[RateLimitRule(1_000_000, 1.0)], penalty_box=None)


def client(sim: RecoBeatSimulator, client_id: str = "c1") -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=SimulatorTransport(sim, client_id=client_id), base_url=BASE)


async def test_round_trip_costs_network_plus_service_time_in_virtual_time(make_simulator) -> None:  # type: ignore[no-untyped-def]
    sim = make_simulator(
        network=LatencyModel(median=0.03, p99=0.03),
        service=EndpointProfile(latency=LatencyModel(median=0.2, p99=0.2)),
    )
    async with client(sim) as http:
        start = anyio.current_time()
        response = await http.get("/v1/track", params={"ids": sim.catalog.spotify_id(1)})
        assert anyio.current_time() - start == pytest.approx(0.23)
    assert response.status_code == 200
    assert response.json()["content"][0]["id"] == sim.catalog.track_uuid(1)
    (record,) = sim.log
    assert record.sent == pytest.approx(start)
    assert record.arrival == pytest.approx(start + 0.03)
    assert record.responded == pytest.approx(start + 0.23)
    assert (record.client, record.endpoint, record.status, record.outcome) == (
        "c1",
        "/v1/track",
        200,
        "ok",
    )


async def test_429_has_retry_after_and_json_body_and_is_logged(make_simulator) -> None:  # type: ignore[no-untyped-def]
    sim = make_simulator(
        rate_limit=RateLimitConfig(rules=[RateLimitRule(3, 10.0)], rejection_latency=0.0)
    )
    params = {"ids": sim.catalog.spotify_id(1)}
    async with client(sim) as http:
        statuses = [(await http.get("/v1/track", params=params)).status_code for _ in range(3)]
        await anyio.sleep(2.5)
        rejected = await http.get("/v1/track", params=params)
        other = await http.get("/v1/track", params=params, headers={"X-Client-Id": "c2"})
    assert statuses == [200, 200, 200]
    assert rejected.status_code == 429
    assert rejected.headers["retry-after"] == "8"  # 7.5 s, rounded up
    assert float(rejected.headers["x-ratelimit-reset-after"]) == pytest.approx(7.5)
    assert rejected.json() == {
        "status": 4290,
        "errors": [{"message": "Rate limit exceeded; retry after 7.500 s"}],
    }
    assert other.status_code == 200  # the header identifies another client
    outcomes = [(r.client, r.outcome) for r in sim.log]
    assert outcomes[-2:] == [("c1", "rate_limited"), ("c2", "ok")]


async def test_network_jitter_compresses_client_spacing_on_arrival(make_simulator) -> None:  # type: ignore[no-untyped-def]
    sim = make_simulator(network=LatencyModel(median=0.05, p99=0.6))
    async with client(sim) as http, anyio.create_task_group() as tg:
        for i in range(60):
            tg.start_soon(http.get, f"/v1/track/{sim.catalog.track_uuid(i)}/audio-features")
            await anyio.sleep(0.25)
    records = sorted(sim.log, key=lambda r: r.sent or 0.0)
    sent_gaps = [b.sent - a.sent for a, b in itertools.pairwise(records)]  # type: ignore[operator]
    arrival_gaps = [b.arrival - a.arrival for a, b in itertools.pairwise(records)]
    assert min(sent_gaps) == pytest.approx(0.25)
    assert min(arrival_gaps) < 0.15  # some requests arrive closer together than they were sent
    assert [r.seq for r in sim.log] == list(range(60))
    arrivals = [r.arrival for r in sim.log]
    assert arrivals == sorted(arrivals)


async def test_tuned_client_is_spared_and_the_old_setting_is_throttled(make_simulator) -> None:  # type: ignore[no-untyped-def]
    sim = make_simulator(network=LatencyModel(median=0.03, p99=0.15))  # default limits
    ids = [sim.catalog.spotify_id(i) for i in range(400)]

    async def paced(name: str, spacing: float, n: int) -> None:
        async with client(sim, name) as http, anyio.create_task_group() as tg:
            for i in range(n):
                tg.start_soon(http.get, f"/v1/track?ids={ids[i % 400]}")
                await anyio.sleep(spacing)

    async with anyio.create_task_group() as tg:
        tg.start_soon(paced, "tuned", 0.75, 240)  # 80/min for 3 minutes
        tg.start_soon(paced, "old", 0.5, 360)  # 120/min for 3 minutes
    limited = {
        name: sum(r.status == 429 for r in sim.log if r.client == name) for name in ("tuned", "old")
    }
    assert limited["tuned"] == 0
    assert limited["old"] >= 40


async def test_timeout_never_answers_and_the_deadline_cancels(make_simulator) -> None:  # type: ignore[no-untyped-def]
    sim = make_simulator(
        service=EndpointProfile(latency=LatencyModel(0.0, 0.0), faults=FaultRates(timeout=1.0))
    )
    async with client(sim) as http:
        with pytest.raises(TimeoutError):
            with anyio.fail_after(30):
                await http.get("/v1/track", params={"ids": sim.catalog.spotify_id(1)})
        assert anyio.current_time() == pytest.approx(30)
    (record,) = sim.log
    assert (record.outcome, record.status, record.responded) == ("timeout", None, None)


async def test_reset_raises_a_transport_error_after_the_service_time(make_simulator) -> None:  # type: ignore[no-untyped-def]
    sim = make_simulator(
        service=EndpointProfile(latency=LatencyModel(0.5, 0.5), faults=FaultRates(reset=1.0))
    )
    async with client(sim) as http:
        with pytest.raises(httpx.ReadError):
            await http.get("/v1/track", params={"ids": sim.catalog.spotify_id(1)})
        assert anyio.current_time() == pytest.approx(0.5)
    assert sim.log.records()[0].outcome == "reset"


async def test_malformed_body_is_a_200_with_invalid_json(make_simulator) -> None:  # type: ignore[no-untyped-def]
    sim = make_simulator(
        service=EndpointProfile(latency=LatencyModel(0.0, 0.0), faults=FaultRates(malformed=1.0)),
        rate_limit=UNLIMITED,
    )
    async with client(sim) as http:
        for i in range(20):
            response = await http.get("/v1/track", params={"ids": sim.catalog.spotify_id(i)})
            assert response.status_code == 200
            with pytest.raises(json.JSONDecodeError):
                json.loads(response.content)
            bad = await http.get("/v1/track", params={"ids": "nope"})
            assert bad.status_code == 400 and bad.json()["status"] == 4004  # errors stay intact
    assert {r.outcome for r in sim.log} == {"malformed", "ok"}


async def test_server_errors_at_a_rate_and_in_a_burst_window(make_simulator) -> None:  # type: ignore[no-untyped-def]
    burst = FaultWindow(start=60.0, end=120.0, rates=FaultRates(error=1.0))
    profile = EndpointProfile(
        latency=LatencyModel(0.0, 0.0), faults=FaultRates(error=0.1), windows=[burst]
    )
    sim = make_simulator(service=profile, rate_limit=UNLIMITED)
    async with client(sim) as http:
        before = [
            (await http.get(f"/v1/track/{sim.catalog.track_uuid(i)}/audio-features")).status_code
            for i in range(500)
        ]
        await anyio.sleep(60 - anyio.current_time())
        during = [
            (await http.get(f"/v1/track/{sim.catalog.track_uuid(i)}/audio-features")).status_code
            for i in range(50)
        ]
    errors = sum(s >= 500 for s in before) / len(before)
    assert 0.06 < errors < 0.14
    assert set(before) <= {200, 500, 502, 503, 504}
    assert all(s >= 500 for s in during)


async def test_request_log_exports_to_json_lines(make_simulator) -> None:  # type: ignore[no-untyped-def]
    sim = make_simulator()
    catalog = sim.catalog
    async with client(sim) as http:
        await http.get(
            "/v1/track/recommendation",
            params={"size": 5, "seeds": [catalog.spotify_id(2), catalog.spotify_id(1)]},
        )
        await http.get(
            "/v1/track/recommendation",
            params={"size": 5, "seeds": f"{catalog.spotify_id(1)},{catalog.spotify_id(2)}"},
        )
        await http.get("/nowhere")
    records = sim.log.records()
    assert records[0].params == records[1].params  # canonical: seed order does not matter
    assert records[2].endpoint is None and records[2].status == 404
    lines = sim.log.to_jsonl().splitlines()
    assert len(lines) == 3 and json.loads(lines[0])["endpoint"] == "/v1/track/recommendation"
    assert RequestLog.read_jsonl(sim.log.to_jsonl()) == records


def _scenario(make_simulator, seed: int):  # type: ignore[no-untyped-def]
    async def run() -> str:
        sim = make_simulator(
            seed=seed,
            network=LatencyModel(0.02, 0.2),
            service=EndpointProfile(
                latency=LatencyModel(0.05, 0.5),
                faults=FaultRates(error=0.05, reset=0.02, malformed=0.02),
            ),
        )
        ids = [sim.catalog.spotify_id(i) for i in range(50)]

        async def one(i: int) -> None:
            await anyio.sleep(i * 0.001)  # distinct instants
            async with client(sim, f"u{i % 3}") as http:
                try:
                    with anyio.fail_after(5):
                        await http.get("/v1/track", params={"ids": ids[i % 50 : i % 50 + 3]})
                except (httpx.TransportError, TimeoutError):
                    pass

        async with anyio.create_task_group() as tg:
            for i in range(200):
                tg.start_soon(one, i)
        return hashlib.sha256(sim.log.to_jsonl()).hexdigest()

    return run


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_same_seed_same_log_across_runs_and_backends(make_simulator, backend: str) -> None:  # type: ignore[no-untyped-def]
    first = run_virtual(_scenario(make_simulator, 7), backend=backend)
    assert run_virtual(_scenario(make_simulator, 7), backend=backend) == first
    assert run_virtual(_scenario(make_simulator, 7), backend="asyncio") == first
