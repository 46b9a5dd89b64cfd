"""Fixtures for a project's own tests, registered once it opts in (see the package docstring).

A test that takes ``recobeat_virtual`` runs twice, on asyncio and on trio; everything inside the
function it runs is in virtual time (an hour of rate-limited calls costs no wall time)::

    def test_one_lookup(recobeat_virtual, recobeat_client, recobeat_request_log):
        async def body():
            async with recobeat_client as client:
                await client.audio_features_many([...])
                await client.audio_features_many([...])  # cached: no second request

        recobeat_virtual(body)
        assert recobeat_request_log.count("/v1/audio-features") == 1

Override ``recobeat_simulator_config`` (a :class:`simulator.SimulatorConfig`) or
``recobeat_seed`` in a conftest to change the upstream or the run's random seed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from engine.testing import BACKENDS, VirtualClock, run_virtual
from recobeat.client import RecoBeatClient
from simulator import (
    Catalog,
    CatalogConfig,
    RecoBeatSimulator,
    RequestLog,
    RequestRecord,
    SimulatorConfig,
    SimulatorTransport,
)

__all__ = [
    "RequestLogView",
    "recobeat_backend",
    "recobeat_catalogs",
    "recobeat_client",
    "recobeat_request_log",
    "recobeat_seed",
    "recobeat_simulator",
    "recobeat_simulator_config",
    "recobeat_virtual",
]


class RequestLogView:
    """The simulator's request log, with counts to assert on. A ``what`` is a path
    (``/v1/track``) or a route template (``/v1/track/{id}/audio-features``): a record matches
    when either equals it."""

    def __init__(self, log: RequestLog) -> None:
        self.log = log

    def __len__(self) -> int:
        return len(self.log)

    def __iter__(self) -> Iterator[RequestRecord]:
        return iter(self.log)

    def records(self, what: str | None = None) -> list[RequestRecord]:
        return [r for r in self.log if what is None or what in (r.path, r.endpoint)]

    def count(self, what: str | None = None) -> int:
        """How many requests reached the simulator (for ``what``, when given)."""
        return len(self.records(what))

    def by_path(self) -> Counter[str]:
        return Counter(r.path for r in self.log)

    def outcomes(self) -> Counter[str]:
        """``ok``, ``rate_limited``, ``blocked``, ``error``... (see ``RequestRecord``)."""
        return Counter(r.outcome for r in self.log)

    def __repr__(self) -> str:
        return f"RequestLogView({dict(self.by_path())})"


@pytest.fixture(params=BACKENDS)
def recobeat_backend(request: pytest.FixtureRequest) -> str:
    """``"asyncio"``, then ``"trio"``."""
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def recobeat_seed() -> int:
    """The random seed of a virtual run (the order of simultaneous wake-ups)."""
    return 0


@pytest.fixture
def recobeat_virtual(recobeat_backend: str, recobeat_seed: int) -> Callable[..., Any]:
    """``recobeat_virtual(fn, *args)``: ``await fn(*args)`` in virtual time on the test's
    backend (:func:`engine.testing.run_virtual`); returns what ``fn`` returns."""

    def run(fn: Callable[..., Any], *args: Any) -> Any:
        return run_virtual(fn, *args, backend=recobeat_backend, seed=recobeat_seed)  # type: ignore[arg-type]

    return run


@pytest.fixture
def recobeat_simulator_config() -> SimulatorConfig:
    """The simulated upstream's configuration: RecoBeat's limits and latencies, seed 0."""
    return SimulatorConfig()


@pytest.fixture(scope="session")
def recobeat_catalogs() -> dict[tuple[CatalogConfig, int], Catalog]:
    """Catalogs by (config, seed), built once per session (building one is the slow part)."""
    return {}


@pytest.fixture
def recobeat_simulator(
    recobeat_simulator_config: SimulatorConfig,
    recobeat_catalogs: dict[tuple[CatalogConfig, int], Catalog],
) -> RecoBeatSimulator:
    """An in-process simulated RecoBeat, on a virtual clock (use it inside ``recobeat_virtual``)."""
    config = recobeat_simulator_config
    key = (config.catalog, config.seed)
    catalog = recobeat_catalogs.get(key)
    if catalog is None:
        catalog = recobeat_catalogs[key] = Catalog(config.catalog, seed=config.seed)
    return RecoBeatSimulator(config, clock=VirtualClock(), catalog=catalog)


@pytest.fixture
def recobeat_client(recobeat_simulator: RecoBeatSimulator, recobeat_seed: int) -> RecoBeatClient:
    """A :class:`RecoBeatClient` (the tuned defaults) whose requests go to
    ``recobeat_simulator``; not yet entered: ``async with recobeat_client as client:`` inside the
    function that ``recobeat_virtual`` runs."""
    return RecoBeatClient(transport=SimulatorTransport(recobeat_simulator), seed=recobeat_seed)


@pytest.fixture
def recobeat_request_log(recobeat_simulator: RecoBeatSimulator) -> RequestLogView:
    """Every request that reached ``recobeat_simulator``, in order of arrival."""
    return RequestLogView(recobeat_simulator.log)
