"""RecoBeatClient.prewarm: the ID registry and the audio features filled ahead of need, at
background priority, in virtual time on both backends."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import msgspec
import pytest

from engine import VirtualClock
from recobeat.client import RecoBeatClient
from recobeat.config import ClientConfig, HttpConfig
from simulator import RecoBeatSimulator, SimulatorTransport
from simulator.upstream.api import parse_query

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def opened(
    sim: RecoBeatSimulator, config: ClientConfig | None = None
) -> AsyncIterator[RecoBeatClient]:
    config = msgspec.structs.replace(
        config or ClientConfig(),
        http=HttpConfig(base_url="http://recobeat.test", client_id="backend-1"),
    )
    async with RecoBeatClient(
        config, transport=SimulatorTransport(sim), clock=VirtualClock(), seed=3
    ) as client:
        yield client


def with_classes(share: float = 0.25) -> ClientConfig:
    config = ClientConfig()
    rate = config.engine.rate
    assert rate is not None
    return msgspec.structs.replace(
        config,
        engine=msgspec.structs.replace(
            config.engine, rate=msgspec.structs.replace(rate, background_share=share)
        ),
    )


def ids_sent(record: Any) -> list[str]:
    return parse_query(record.params).get("ids", [])


async def test_prewarm_fills_the_registry_and_the_features(
    make_simulator: Callable[..., RecoBeatSimulator],
) -> None:
    sim = make_simulator()
    known = [sim.catalog.spotify_id(i) for i in range(50)]
    unknown = [sim.catalog.unknown_spotify_id(i) for i in range(5)]
    async with opened(sim) as client:
        assert await client.prewarm(known + unknown) == 55
        log = list(sim.log)
        assert [r.endpoint for r in log] == ["/v1/audio-features"] * 2
        assert sorted(len(ids_sent(r)) for r in log) == [15, 40]
        # What a generation asks first is now answered from the cache: no request at all.
        features = await client.audio_features_many(known + unknown)
        converted = await client.convert_ids(known + unknown)
        assert set(features) == set(known)
        assert converted == {i: None if i in unknown else features[i].id for i in known + unknown}
        assert len(sim.log) == 2
        # Nothing left to warm: no request.
        assert await client.prewarm(known + unknown) == 0
        assert len(sim.log) == 2
        stats = client.engine.stats().rate
    assert stats.background_grants == 2


async def test_prewarm_asks_for_a_registered_id_by_its_reccobeats_id(
    make_simulator: Callable[..., RecoBeatSimulator],
) -> None:
    sim = make_simulator()
    spotify = [sim.catalog.spotify_id(i) for i in range(3)]
    async with opened(sim) as client:
        converted = await client.convert_ids(spotify)  # the registry, not the features
        assert await client.prewarm(spotify) == 3
        last = list(sim.log)[-1]
        assert last.endpoint == "/v1/audio-features"
        assert set(ids_sent(last)) == set(converted.values())
    with pytest.raises(ValueError):
        async with opened(make_simulator()) as client:
            await client.prewarm([sim.catalog.track_uuid(0)])  # not a Spotify ID


async def test_interactive_requests_go_before_the_prewarm(
    make_simulator: Callable[..., RecoBeatSimulator],
) -> None:
    sim = make_simulator()
    popular = [sim.catalog.spotify_id(i) for i in range(200)]  # five requests of 40
    seeds = [sim.catalog.track_uuid(i) for i in range(1000, 1003)]
    async with opened(sim, with_classes()) as client:
        async with anyio.create_task_group() as tg:
            tg.start_soon(client.prewarm, popular)
            await anyio.sleep(0.1)  # the first prewarm request is out, the second waits
            for k in range(3):
                tg.start_soon(lambda k=k: client.recommendations(seeds, 10 + k))
        stats = client.engine.stats().rate
    order = [r.endpoint for r in sorted(sim.log, key=lambda r: r.sent or r.arrival)]
    # The three recommendations waited behind no prewarm request but the first.
    assert order[:4] == ["/v1/audio-features"] + ["/v1/track/recommendation"] * 3
    assert order.count("/v1/audio-features") == 5
    assert stats.background_grants == 5


@pytest.mark.parametrize("classes", [False, True], ids=["one-line", "classes"])
async def test_prewarm_uses_spare_budget_only(
    make_simulator: Callable[..., RecoBeatSimulator], classes: bool
) -> None:
    """While people are served (a lookup every 2 s for 20 s), no pre-warm request goes out:
    each waits for ``quiet`` seconds without an interactive grant (but the one already in line
    when the first person came). Before the first person was served, pre-warming had the
    budget; that person waited out one spacing with priority classes, two without (the
    pre-warm request already in the line goes first); nobody after waited for it."""
    sim = make_simulator()
    popular = [sim.catalog.spotify_id(i) for i in range(200)]  # five requests of 40
    async with opened(sim, with_classes() if classes else None) as client:

        async def people() -> None:
            for k in range(10):
                await anyio.sleep_until(1.0 + 2.0 * k)
                await client.recommendations([sim.catalog.track_uuid(1000 + k)], 10)

        async with anyio.create_task_group() as tg:
            tg.start_soon(people)
            tg.start_soon(lambda: client.prewarm(popular, quiet=5.0))
    sent = sorted(sim.log, key=lambda r: r.sent or r.arrival)
    warm = [r.sent or r.arrival for r in sent if r.endpoint == "/v1/audio-features"]
    people_sent = [r.sent or r.arrival for r in sent if r.endpoint != "/v1/audio-features"]
    assert len(warm) == 5 and len(people_sent) == 10
    first, last = people_sent[0], people_sent[-1]
    # At most the one pre-warm request already in line when the first person came (with
    # classes it goes after that person), and none delays anyone after the first.
    assert len([t for t in warm if first <= t < last + 5.0]) <= (1 if classes else 0)
    assert len([t for t in warm if t >= last + 5.0]) >= 2  # it finished once people left
    assert first - 1.0 <= (0.75 if classes else 1.5) + 1e-6
    assert people_sent[1:] == [pytest.approx(1.0 + 2.0 * k) for k in range(1, 10)]
