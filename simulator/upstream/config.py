"""The simulator's whole configuration, loadable from TOML or JSON with validation.

Every struct rejects unknown fields and out-of-range values, naming the field, both when
constructed directly and when decoded (:func:`load_config`, :func:`msgspec.convert`).
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import msgspec

from simulator.upstream.api import ENDPOINTS
from simulator.upstream.catalog import CatalogConfig
from simulator.upstream.faults import EndpointProfile
from simulator.upstream.latency import LatencyModel
from simulator.upstream.rate_limit import RateLimitConfig

__all__ = ["SimulatorConfig", "load_config"]


def _network() -> LatencyModel:
    return LatencyModel(median_s=0.02, p99_s=0.08)


def _service() -> EndpointProfile:
    return EndpointProfile(latency=LatencyModel(median_s=0.08, p99_s=0.4))


class SimulatorConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
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

    def __post_init__(self) -> None:
        unknown = sorted(set(self.endpoints) - set(ENDPOINTS))
        if unknown:
            raise ValueError(f"endpoints: unknown route templates {unknown}; known: {ENDPOINTS}")


def load_config(path: str | Path) -> SimulatorConfig:
    """Read a ``.toml`` or ``.json`` file; raises ``msgspec.ValidationError`` naming the field."""
    path = Path(path)
    if path.suffix == ".json":
        return msgspec.json.decode(path.read_bytes(), type=SimulatorConfig)
    return msgspec.convert(tomllib.loads(path.read_text()), SimulatorConfig)
