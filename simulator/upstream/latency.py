"""Latency distributions: log-normal from a median and a p99, with an optional slow tail."""

from __future__ import annotations

import math
from statistics import NormalDist

import msgspec

__all__ = ["LatencyModel"]

_Z99 = NormalDist().inv_cdf(0.99)
_inv_cdf = NormalDist().inv_cdf


class LatencyModel(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """Seconds drawn log-normally with the given median and 99th percentile; a share
    ``slow_share`` of draws is multiplied by ``slow_factor`` (a slow tail beyond the log-normal).
    ``median_s == p99_s`` gives a constant; ``0`` gives no delay at all."""

    median_s: float = 0.05
    p99_s: float = 0.25
    slow_share: float = 0.0
    slow_factor: float = 10.0

    def __post_init__(self) -> None:
        if not self.median_s >= 0:
            raise ValueError(f"latency.median_s must be >= 0, not {self.median_s}")
        if not self.p99_s >= self.median_s:
            raise ValueError(f"latency.p99_s must be >= median_s, not {self.p99_s}")
        if not 0.0 <= self.slow_share <= 1.0:
            raise ValueError(f"latency.slow_share must be in 0..1, not {self.slow_share}")
        if not self.slow_factor >= 1.0:
            raise ValueError(f"latency.slow_factor must be >= 1, not {self.slow_factor}")

    def sample(self, u: float, u_tail: float) -> float:
        """The latency for uniform draws ``u`` (the quantile) and ``u_tail`` (slow or not)."""
        if self.median_s == 0.0:
            return 0.0
        sigma = (math.log(self.p99_s) - math.log(self.median_s)) / _Z99
        z = _inv_cdf(min(max(u, 1e-12), 1.0 - 1e-12)) if sigma else 0.0
        seconds = self.median_s * math.exp(sigma * z)
        if u_tail < self.slow_share:
            seconds *= self.slow_factor
        return seconds
