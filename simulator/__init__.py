"""A deterministic stand-in for the ReccoBeats API.

Build a :class:`RecoBeatSimulator` from a :class:`SimulatorConfig` and an ``engine.clock.Clock``,
then reach it in-process through :class:`SimulatorTransport` (an httpx transport) or over real
HTTP with :func:`serve_http` (``recobeat serve``). Every request lands in ``simulator.log``.
Workloads draw seed tracks from :class:`SeedPool`.

The response shapes (:class:`Artist`, :class:`Track`, :class:`AudioFeatures`, and the
:class:`Content` and :class:`Page` envelopes) are the client's own :mod:`recobeat.models`,
re-exported here, so the simulator encodes exactly what the client decodes.

:func:`serve_http` needs hypercorn (the ``server`` extra); it is imported when first used, so
the rest of the simulator (and every replay) works from a plain install.
"""

from typing import TYPE_CHECKING, Any

from recobeat.models import Artist, AudioFeatures, Content, Page, Track
from simulator.api import ENDPOINTS, RecoBeatApi
from simulator.asgi import SimulatorApp
from simulator.catalog import FEATURE_NAMES, Catalog, CatalogConfig
from simulator.config import SimulatorConfig, load_config
from simulator.faults import EndpointProfile, Fault, FaultPlan, FaultRates, FaultWindow
from simulator.latency import LatencyModel
from simulator.messages import Request, Response
from simulator.rate_limit import (
    Allowed,
    PenaltyBox,
    RateLimitConfig,
    RateLimitRule,
    Rejected,
    UpstreamRateLimit,
)
from simulator.request_log import RequestLog, RequestRecord
from simulator.seed_pool import SeedPool
from simulator.service import Exchange, RecoBeatSimulator
from simulator.transport import SimulatorTransport

__all__ = [
    "ENDPOINTS",
    "FEATURE_NAMES",
    "Allowed",
    "Artist",
    "AudioFeatures",
    "Catalog",
    "CatalogConfig",
    "Content",
    "EndpointProfile",
    "Exchange",
    "Fault",
    "FaultPlan",
    "FaultRates",
    "FaultWindow",
    "LatencyModel",
    "Page",
    "PenaltyBox",
    "RateLimitConfig",
    "RateLimitRule",
    "RecoBeatApi",
    "RecoBeatSimulator",
    "Rejected",
    "Request",
    "RequestLog",
    "RequestRecord",
    "Response",
    "SeedPool",
    "SimulatorApp",
    "SimulatorConfig",
    "SimulatorTransport",
    "Track",
    "UpstreamRateLimit",
    "load_config",
    "serve_http",
]

if TYPE_CHECKING:
    from simulator.server import serve_http


def __getattr__(name: str) -> Any:
    # serve_http is the one part that needs an extra: import it on first use.
    if name == "serve_http":
        try:
            from simulator.server import serve_http
        except ModuleNotFoundError as exc:
            if exc.name != "hypercorn":
                raise
            raise ModuleNotFoundError(
                "serving the simulator over HTTP needs hypercorn: "
                "pip install 'recobeat-engine[server]'",
                name="hypercorn",
            ) from None
        return serve_http
    raise AttributeError(f"module 'simulator' has no attribute {name!r}")
