"""The client's statistics: a JSON-serialisable snapshot of what the optimisations saved."""

from __future__ import annotations

import msgspec

from engine import EngineStats

__all__ = ["ClientStats", "EndpointStats", "EndpointTally"]


class EndpointStats(msgspec.Struct, frozen=True):
    calls: int
    """Attempts sent to the endpoint (retries included)."""
    statuses: dict[str, int]
    """Answers by status code ("error": no answer, the connection failed)."""
    mean_latency: float
    max_latency: float
    total_latency: float = 0.0
    """Seconds all the answers took, summed (what a monotonic counter exports)."""


class EndpointTally:
    """Mutable counters behind :class:`EndpointStats`."""

    __slots__ = ("calls", "max_latency", "statuses", "total_latency")

    def __init__(self) -> None:
        self.calls = 0
        self.total_latency = 0.0
        self.max_latency = 0.0
        self.statuses: dict[str, int] = {}

    def record(self, latency: float, status: int | str) -> None:
        self.calls += 1
        self.total_latency += latency
        self.max_latency = max(self.max_latency, latency)
        key = str(status)
        self.statuses[key] = self.statuses.get(key, 0) + 1

    def snapshot(self) -> EndpointStats:
        return EndpointStats(
            calls=self.calls,
            statuses=dict(sorted(self.statuses.items())),
            mean_latency=self.total_latency / self.calls if self.calls else 0.0,
            max_latency=self.max_latency,
            total_latency=self.total_latency,
        )


class ClientStats(msgspec.Struct, frozen=True):
    engine: EngineStats
    """Cache hits and misses per namespace, limiter waits, retries, singleflight savings."""
    endpoints: dict[str, EndpointStats]
    upstream_requests: int
    """Requests that reached the wire, retries included."""
    rate_limited: int
    """429 answers."""
    dedup_saved: int
    """Upstream requests (or IDs in batched lookups) not sent because an identical one was
    already in flight."""
    registry_lookups_avoided: int
    """Spotify IDs the ID registry answered without a lookup (converted or known missing)."""
    id_chunk_size: int
    """IDs per lookup request actually sent."""
    id_chunk_size_clamped: bool
    """The configured chunk size exceeded the API's 40-ID maximum and was clamped."""
