"""Latency distributions: log-normal from a median and a p99, with an optional slow tail."""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Annotated

import msgspec

from engine.config import Config, ConfigError, NonNegative

__all__ = ["LatencyModel", "Share"]

#: A float in 0..1 (a share of draws, a probability).
Share = Annotated[float, msgspec.Meta(ge=0, le=1)]

_Z99 = NormalDist().inv_cdf(0.99)
_inv_cdf = NormalDist().inv_cdf


class LatencyModel(Config):
    """Seconds drawn log-normally with the given median and 99th percentile; a share
    ``slow_share`` of draws is multiplied by ``slow_factor`` (a slow tail beyond the log-normal).
    ``median == p99`` gives a constant; ``0`` gives no delay at all."""

    median: NonNegative = 0.05
    """Median seconds."""
    p99: NonNegative = 0.25
    """99th-percentile seconds, at least ``median``."""
    slow_share: Share = 0.0
    """Share of draws (0..1) multiplied by ``slow_factor``."""
    slow_factor: Annotated[float, msgspec.Meta(ge=1)] = 10.0

    def validate(self) -> None:
        if not self.p99 >= self.median:
            raise ConfigError(
                f"LatencyModel.p99: {self.p99} is below median {self.median}; "
                "it must be at least the median"
            )

    def sample(self, u: float, u_tail: float) -> float:
        """The latency for uniform draws ``u`` (the quantile) and ``u_tail`` (slow or not)."""
        if self.median == 0.0:
            return 0.0
        sigma = (math.log(self.p99) - math.log(self.median)) / _Z99
        z = _inv_cdf(min(max(u, 1e-12), 1.0 - 1e-12)) if sigma else 0.0
        seconds = self.median * math.exp(sigma * z)
        if u_tail < self.slow_share:
            seconds *= self.slow_factor
        return seconds
