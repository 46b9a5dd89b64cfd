"""The client's statistics in Prometheus' text format: the engine's families and RecoBeat's.

:func:`prometheus_text` renders a :class:`~recobeat.stats.ClientStats` (no dependency);
:func:`register` adds a ``prometheus_client`` collector reading ``client.stats()`` at each
scrape (the ``metrics`` extra). The engine's families keep their names (``engine_...``, see
:mod:`engine.metrics`); the client adds, under ``recobeat_``:

- ``recobeat_upstream_responses_total{endpoint, status}``: answers by status code (``error``:
  no answer, the connection failed), retries included;
- ``recobeat_upstream_latency_seconds_total{endpoint}`` and
  ``recobeat_upstream_latency_max_seconds{endpoint}``: the time those answers took, summed and
  the longest (divide the sum by the responses for a mean over any interval);
- ``recobeat_dedup_saved_total``, ``recobeat_registry_lookups_avoided_total``: what the
  deduplication and the ID registry spared the upstream.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine.metrics import Family, engine_families, register_families, render
from recobeat.stats import ClientStats

if TYPE_CHECKING:
    from recobeat.client import RecoBeatClient

__all__ = ["client_families", "prometheus_text", "register"]


def client_families(stats: ClientStats, *, prefix: str = "recobeat") -> list[Family]:
    """RecoBeat's own families (without the engine's), in order."""
    endpoints = sorted(stats.endpoints.items())
    return [
        Family(
            f"{prefix}_upstream_responses",
            "counter",
            "Upstream answers by endpoint and status (error: no answer), retries included.",
            [
                ((("endpoint", name), ("status", status)), count)
                for name, e in endpoints
                for status, count in e.statuses.items()
            ],
        ),
        Family(
            f"{prefix}_upstream_latency_seconds",
            "counter",
            "Seconds upstream answers took, summed, by endpoint.",
            [((("endpoint", name),), e.total_latency) for name, e in endpoints],
        ),
        Family(
            f"{prefix}_upstream_latency_max_seconds",
            "gauge",
            "The longest an upstream answer took, by endpoint.",
            [((("endpoint", name),), e.max_latency) for name, e in endpoints],
        ),
        Family(
            f"{prefix}_dedup_saved",
            "counter",
            "Upstream requests (or IDs of batched lookups) not sent: one was already in flight.",
            [((), stats.dedup_saved)],
        ),
        Family(
            f"{prefix}_registry_lookups_avoided",
            "counter",
            "Spotify IDs the ID registry answered without an upstream lookup.",
            [((), stats.registry_lookups_avoided)],
        ),
    ]


def _families(stats: ClientStats, engine_prefix: str, prefix: str) -> list[Family]:
    return engine_families(stats.engine, prefix=engine_prefix) + client_families(
        stats, prefix=prefix
    )


def prometheus_text(
    stats: ClientStats, *, engine_prefix: str = "engine", prefix: str = "recobeat"
) -> str:
    """``stats`` (``client.stats()``) as Prometheus exposition text, the engine's families
    first (``Content-Type: text/plain; version=0.0.4``)."""
    return render(_families(stats, engine_prefix, prefix))


def register(
    client: RecoBeatClient,
    registry: Any = None,
    *,
    engine_prefix: str = "engine",
    prefix: str = "recobeat",
) -> Any:
    """Register on ``registry`` (default: ``prometheus_client.REGISTRY``) a collector reading
    ``client.stats()`` at each scrape; return it (pass it to ``registry.unregister`` to stop).
    Needs the ``metrics`` extra."""
    return register_families(lambda: _families(client.stats(), engine_prefix, prefix), registry)
