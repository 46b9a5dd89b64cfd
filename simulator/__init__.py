"""Everything simulated, floor 3 of the house (``engine`` <- ``recobeat`` <- ``simulator``).

- :mod:`simulator.upstream`: a deterministic stand-in for the ReccoBeats API. Build a
  :class:`RecoBeatSimulator` from a :class:`SimulatorConfig` and an ``engine.Clock``, then reach
  it in-process through :class:`SimulatorTransport` (an httpx transport), through
  :class:`DirectTransport` (the client's own transport, no HTTP messages: replays use it) or
  over real HTTP with :func:`serve_http` (``recobeat serve``). Every request lands in
  ``simulator.log``. It validates requests against :mod:`recobeat.contract`, the same
  constants the client uses.
- :mod:`simulator.workload`: one playlist generation, as the MoodList backend performs it.
- :mod:`simulator.profiles`: the design note's tuned and original client configurations.
- :mod:`simulator.replay`: scenario files, replayed in virtual time and checked.
- :mod:`simulator.cli`: the ``recobeat`` command (``serve``, ``replay``).

This module re-exports the upstream model's public names. The response shapes
(:class:`Artist`, :class:`Track`, :class:`AudioFeatures`, :class:`Content`, :class:`Page`) are
the client's own :mod:`recobeat.models`, so the simulator encodes exactly what the client decodes.

:func:`serve_http` needs hypercorn (the ``server`` extra); it is imported when first used, so
the rest of the simulator (and every replay) works from a plain install.
"""

from typing import TYPE_CHECKING, Any

from recobeat.models import Artist, AudioFeatures, Content, Page, Track
from simulator.upstream.api import ENDPOINTS, RecoBeatApi
from simulator.upstream.asgi import SimulatorApp
from simulator.upstream.catalog import FEATURE_NAMES, Catalog, CatalogConfig
from simulator.upstream.config import SimulatorConfig
from simulator.upstream.faults import EndpointProfile, Fault, FaultPlan, FaultRates, FaultWindow
from simulator.upstream.latency import LatencyModel
from simulator.upstream.messages import Request, Response
from simulator.upstream.rate_limit import (
    Allowed,
    PenaltyBox,
    RateLimitConfig,
    RateLimitPhase,
    RateLimitRule,
    Rejected,
    UpstreamRateLimit,
)
from simulator.upstream.request_log import RequestLog, RequestRecord
from simulator.upstream.seed_pool import SeedPool
from simulator.upstream.service import Exchange, RecoBeatSimulator
from simulator.upstream.transport import DirectTransport, SimulatorTransport

__all__ = [
    "ENDPOINTS",
    "FEATURE_NAMES",
    "Allowed",
    "Artist",
    "AudioFeatures",
    "Catalog",
    "CatalogConfig",
    "Content",
    "DirectTransport",
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
    "RateLimitPhase",
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
    "serve_http",
]

if TYPE_CHECKING:
    from simulator.upstream.server import serve_http


def __getattr__(name: str) -> Any:
    # serve_http is the one part that needs an extra: import it on first use.
    if name == "serve_http":
        try:
            from simulator.upstream.server import serve_http
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
