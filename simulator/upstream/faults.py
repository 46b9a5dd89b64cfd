"""Per-endpoint service behaviour: latency and injected faults, decided per request.

Sans-I/O: :meth:`FaultPlan.decide` maps (endpoint, request key, now) to a
:class:`ServiceDecision` and keeps no state, so a request's fate depends only on its key (a
digest of its stable identity) and the instant it arrived, never on scheduling order.

One uniform draw picks the fault by stacking the rates in this order: timeout, reset, server
error, malformed body; the rest are served normally. During a :class:`FaultWindow` (times in
seconds since the simulator's origin, ``[start, end)``) each rate is the larger of the
endpoint's and the window's (clipped so that they sum to at most 1; see ``FaultRates.during``).
"""

from __future__ import annotations

import enum

import msgspec

from engine.config import Config, ConfigError
from simulator.upstream.latency import LatencyModel, Share
from simulator.upstream.seeded import unit

__all__ = ["EndpointProfile", "Fault", "FaultPlan", "FaultRates", "FaultWindow", "ServiceDecision"]

_SERVER_ERRORS = (500, 502, 503, 504)


class Fault(enum.Enum):
    NONE = "none"
    #: A 5xx response with a JSON error body.
    ERROR = "error"
    #: The response never comes.
    TIMEOUT = "timeout"
    #: The connection drops after the service time, without a response.
    RESET = "reset"
    #: A 200 whose body is truncated JSON.
    MALFORMED = "malformed"


class FaultRates(Config):
    """Probabilities per request, each in 0..1, summing to at most 1."""

    error: Share = 0.0
    timeout: Share = 0.0
    reset: Share = 0.0
    malformed: Share = 0.0

    def validate(self) -> None:
        if self.error + self.timeout + self.reset + self.malformed > 1.0 + 1e-12:
            raise ConfigError(
                "FaultRates: error + timeout + reset + malformed must be at most 1, not "
                f"{self.error + self.timeout + self.reset + self.malformed}"
            )

    def during(self, other: FaultRates) -> FaultRates:
        """The larger of each rate, clipped in the order the draw stacks them (timeout,
        reset, error, malformed) so that they sum to at most 1: a window of ``error = 1.0``
        over an endpoint that also resets 2 % of the time resets 2 % and fails the rest."""
        merged: dict[str, float] = {}
        remaining = 1.0
        for name in ("timeout", "reset", "error", "malformed"):
            value = min(max(getattr(self, name), getattr(other, name)), remaining)
            merged[name] = value
            remaining = max(0.0, remaining - value)
        return FaultRates(**merged)


class FaultWindow(Config):
    """A burst of faults: ``rates`` apply from ``start`` (inclusive) to ``end`` (exclusive),
    in seconds since the simulator's origin."""

    start: float
    end: float
    rates: FaultRates

    def validate(self) -> None:
        if not self.end > self.start:
            raise ConfigError(f"FaultWindow.end: {self.end} is not after start {self.start}")


class EndpointProfile(Config):
    """How an endpoint behaves: its service time, its fault rates and its fault windows."""

    latency: LatencyModel = msgspec.field(default_factory=LatencyModel)
    faults: FaultRates = msgspec.field(default_factory=FaultRates)
    windows: tuple[FaultWindow, ...] = ()


class ServiceDecision(msgspec.Struct, frozen=True):
    """``fault``; ``status`` for ERROR (else 200 or the endpoint's own status); ``delay``: the
    service time before the response (or the reset) leaves; ``cut``: for MALFORMED, the share
    of the body that is sent."""

    fault: Fault
    delay: float
    status: int = 200
    cut: float = 1.0


class FaultPlan:
    """Decides each request's service time and fault from its endpoint's profile."""

    def __init__(
        self,
        default: EndpointProfile | None = None,
        endpoints: dict[str, EndpointProfile] | None = None,
        *,
        origin: float = 0.0,
    ) -> None:
        self.default = default or EndpointProfile()
        self.endpoints = dict(endpoints or {})
        self.origin = origin

    def profile(self, endpoint: str) -> EndpointProfile:
        return self.endpoints.get(endpoint, self.default)

    def decide(self, endpoint: str, request_key: bytes, now: float) -> ServiceDecision:
        """``request_key``: a :func:`simulator.upstream.seeded.digest` (slots 1..3 used here)."""
        profile = self.profile(endpoint)
        rates = profile.faults
        elapsed = now - self.origin
        for window in profile.windows:
            if window.start <= elapsed < window.end:
                rates = rates.during(window.rates)
        delay = profile.latency.sample(unit(request_key, 1), unit(request_key, 2))
        u = unit(request_key, 3)
        if u < rates.timeout:
            return ServiceDecision(Fault.TIMEOUT, delay)
        u -= rates.timeout
        if u < rates.reset:
            return ServiceDecision(Fault.RESET, delay)
        u -= rates.reset
        if u < rates.error:
            status = _SERVER_ERRORS[int(u / rates.error * len(_SERVER_ERRORS))]
            return ServiceDecision(Fault.ERROR, delay, status=status)
        u -= rates.error
        if u < rates.malformed:
            return ServiceDecision(Fault.MALFORMED, delay, cut=u / rates.malformed)
        return ServiceDecision(Fault.NONE, delay)
