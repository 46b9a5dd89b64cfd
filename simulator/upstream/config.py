"""The simulator's whole configuration, validated like every configuration in the project.

Every struct is an :class:`engine.config.Config`: it rejects unknown fields and out-of-range
values with a :class:`~engine.config.ConfigError` naming the field's path, both when
constructed directly and when decoded. Read a file or a mapping with
``engine.config.load_config(data, SimulatorConfig)``. Durations are plain seconds, named
without a unit suffix (``window``, ``median``, ``start``), as in the engine's configuration.
"""

from __future__ import annotations

import msgspec

from engine.config import Config, ConfigError
from simulator.upstream.api import ENDPOINTS
from simulator.upstream.catalog import CatalogConfig
from simulator.upstream.faults import EndpointProfile
from simulator.upstream.latency import LatencyModel
from simulator.upstream.rate_limit import RateLimitConfig

__all__ = ["SimulatorConfig"]


def _network() -> LatencyModel:
    return LatencyModel(median=0.02, p99=0.08)


def _service() -> EndpointProfile:
    return EndpointProfile(latency=LatencyModel(median=0.08, p99=0.4))


class SimulatorConfig(Config):
    """``seed`` determines the catalog and every per-request draw. ``network``: the one-way
    client-to-server delay before a request arrives (and meets the rate limit). ``service``:
    every endpoint's profile unless ``endpoints`` (keyed by route template, e.g.
    ``"/v1/track/{id}/audio-features"``) overrides it."""

    seed: int = 0
    catalog: CatalogConfig = msgspec.field(default_factory=CatalogConfig)
    rate_limit: RateLimitConfig = msgspec.field(default_factory=RateLimitConfig)
    network: LatencyModel = msgspec.field(default_factory=_network)
    service: EndpointProfile = msgspec.field(default_factory=_service)
    endpoints: dict[str, EndpointProfile] = msgspec.field(default_factory=dict)

    def validate(self) -> None:
        unknown = sorted(set(self.endpoints) - set(ENDPOINTS))
        if unknown:
            raise ConfigError(
                f"SimulatorConfig.endpoints: unknown route templates {unknown}; known: {ENDPOINTS}"
            )
