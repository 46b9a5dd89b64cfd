"""recobeat.metrics: the client's statistics in Prometheus' text format, and as a
prometheus_client collector; virtual time, both backends, against the in-process simulator."""

from __future__ import annotations

from collections.abc import Callable

import msgspec
import pytest

from engine import VirtualClock
from engine.metrics import render
from recobeat.client import RecoBeatClient
from recobeat.config import ClientConfig, HttpConfig
from recobeat.metrics import client_families, prometheus_text, register
from recobeat.stats import ClientStats, EndpointStats
from simulator import RecoBeatSimulator, SimulatorTransport

pytestmark = pytest.mark.anyio


def opened(sim: RecoBeatSimulator) -> RecoBeatClient:
    config = msgspec.structs.replace(
        ClientConfig(), http=HttpConfig(base_url="http://recobeat.test", client_id="m")
    )
    return RecoBeatClient(config, transport=SimulatorTransport(sim), clock=VirtualClock(), seed=1)


def test_exact_client_lines() -> None:
    stats = ClientStats(
        engine=None,  # type: ignore[arg-type]
        endpoints={
            "tracks": EndpointStats(
                calls=4,
                statuses={"200": 3, "503": 1},
                mean_latency=0.25,
                max_latency=0.5,
                total_latency=1.0,
            )
        },
        upstream_requests=4,
        rate_limited=0,
        dedup_saved=7,
        registry_lookups_avoided=2,
        id_chunk_size=40,
        id_chunk_size_clamped=False,
    )
    text = render(client_families(stats))
    assert 'recobeat_upstream_responses_total{endpoint="tracks",status="200"} 3' in text
    assert 'recobeat_upstream_responses_total{endpoint="tracks",status="503"} 1' in text
    assert 'recobeat_upstream_latency_seconds_total{endpoint="tracks"} 1.0' in text
    assert 'recobeat_upstream_latency_max_seconds{endpoint="tracks"} 0.5' in text
    assert "recobeat_dedup_saved_total 7" in text.splitlines()
    assert "recobeat_registry_lookups_avoided_total 2" in text.splitlines()
    assert "# TYPE recobeat_upstream_latency_max_seconds gauge" in text


async def test_the_text_counts_what_reached_the_upstream_and_parses(
    make_simulator: Callable[..., RecoBeatSimulator],
) -> None:
    parser = pytest.importorskip("prometheus_client.parser")
    sim = make_simulator()
    async with opened(sim) as client:
        ids = [sim.catalog.spotify_id(i) for i in range(10)]
        await client.audio_features_many(ids)
        await client.audio_features_many(ids)  # cached: nothing more upstream
        text = prometheus_text(client.stats())
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in parser.text_string_to_metric_families(text)
        for s in family.samples
    }
    responses = {k: v for k, v in samples.items() if k[0] == "recobeat_upstream_responses_total"}
    assert sum(responses.values()) == len(sim.log) == 1
    assert samples[("engine_upstream_attempts_total", ())] == 1  # the engine's families too


async def test_register_reads_the_client_at_scrape_time(
    make_simulator: Callable[..., RecoBeatSimulator],
) -> None:
    pytest.importorskip("prometheus_client")
    from prometheus_client import CollectorRegistry, generate_latest

    sim = make_simulator()
    registry = CollectorRegistry()
    async with opened(sim) as client:
        collector = register(client, registry)
        before = generate_latest(registry).decode()
        await client.audio_features_many([sim.catalog.spotify_id(0)])
        after = generate_latest(registry).decode()
        registry.unregister(collector)
    assert "recobeat_upstream_responses_total{" not in before  # nothing answered yet
    assert (
        'recobeat_upstream_responses_total{endpoint="audio_features_batch",status="200"} 1.0'
        in after
    )
    assert generate_latest(registry) == b""  # unregistered
