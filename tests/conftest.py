"""Every async test runs on both backends, in virtual time (no test sleeps in real time).

Tests that need real time (real sockets, a real redis-server) override ``anyio_backend`` in their
module with plain backends. Simulator fixtures share one small catalog per session (building one
is the slow part).
"""

from __future__ import annotations

from typing import Any

import pytest

from engine.clock import VirtualClock
from engine.virtual import BACKENDS, backend_options
from simulator import (
    Catalog,
    CatalogConfig,
    EndpointProfile,
    LatencyModel,
    RecoBeatSimulator,
    SimulatorConfig,
)


@pytest.fixture(params=BACKENDS)
def anyio_backend(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
    return request.param, backend_options(request.param, seed=0)


SMALL = CatalogConfig(tracks=200_000, materialised=1_000, tracks_per_artist=10)
INSTANT = LatencyModel(median=0.0, p99=0.0)


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return Catalog(SMALL, seed=7)


def quiet_config(**changes: object) -> SimulatorConfig:
    """Seed 7, the small catalog, no latency unless ``changes`` say otherwise."""
    base: dict[str, object] = {
        "seed": 7,
        "catalog": SMALL,
        "network": INSTANT,
        "service": EndpointProfile(latency=INSTANT),
    }
    base.update(changes)
    return SimulatorConfig(**base)  # type: ignore[arg-type]


@pytest.fixture
def make_simulator(catalog: Catalog):  # type: ignore[no-untyped-def]
    def make(**changes: object) -> RecoBeatSimulator:
        return RecoBeatSimulator(quiet_config(**changes), clock=VirtualClock(), catalog=catalog)

    return make


@pytest.fixture
def quiet():  # type: ignore[no-untyped-def]
    """:func:`quiet_config`, for tests that build their own simulator."""
    return quiet_config


@pytest.fixture
def serve_simulator():  # type: ignore[no-untyped-def]
    """``await serve_simulator(sim, body)``: serve ``sim`` over real sockets on a free loopback
    port (REAL time: use plain backends in that module), run ``await body(url)`` under a 20 s
    deadline, then shut the server down."""
    import anyio
    import anyio.abc

    from simulator import serve_http

    async def run(sim: RecoBeatSimulator, body) -> None:  # type: ignore[no-untyped-def]
        stop = anyio.Event()

        async def server(*, task_status: anyio.abc.TaskStatus[str]) -> None:
            await serve_http(sim, shutdown_trigger=stop.wait, task_status=task_status)

        async with anyio.create_task_group() as tg:
            url = await tg.start(server)
            try:
                with anyio.fail_after(20):
                    await body(url)
            finally:
                stop.set()

    return run
