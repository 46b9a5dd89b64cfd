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
INSTANT = LatencyModel(median_s=0.0, p99_s=0.0)


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
