"""Hot keys across their expiries: what the replay reports for ``[expect.hot_keys]``.

The figures come from the engines' cache statistics (engine/cache/facade.py) and the raw calls'
latencies: how many callers were on the miss path for one key at once (at any time, and while
the fetch replaced an expired value), the refreshes ahead and the stale answers, and the
latency of the ``kind = "requests"`` calls. They are reported under every profile, so that a
comparison shows them with and without refreshing ahead; their bounds are judged only when the
engine refreshes some namespace ahead (``NamespaceTtl.refresh_ahead``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

if TYPE_CHECKING:
    from simulator.replay.runner import RunResult

__all__ = ["HotKeySummary", "hot_key_lines", "hot_key_summary", "refreshes_ahead"]


class HotKeySummary(msgspec.Struct, frozen=True):
    miss_burst: int
    """The most callers on the miss path for one key at once, in any instance."""
    expiry_miss_burst: int
    """The same, counted only while the fetch replaced an expired value (not a first fetch)."""
    refreshes: int
    """Background refreshes started (all namespaces, all instances)."""
    refreshes_failed: int
    stale_served: int
    """Lookups answered by a value past its expiry while it was refreshed."""
    request_count: int
    """Raw calls that succeeded (``kind = "requests"``)."""
    request_p50: float
    request_p95: float
    request_p99: float
    request_max: float


def refreshes_ahead(run: RunResult) -> bool:
    """Whether the replayed engine refreshes some namespace ahead of its expiry."""
    cache = run.config.engine.cache
    ttls = [*cache.ttl.values(), *([cache.default_ttl] if cache.default_ttl else [])]
    return any(ttl.refresh_ahead is not None for ttl in ttls)


def hot_key_summary(run: RunResult) -> HotKeySummary | None:
    """The figures, when the scenario asks for them (``[expect.hot_keys]``), else ``None``."""
    from simulator.replay.checks import percentile

    if run.scenario.expect.hot_keys is None:
        return None
    totals = [stats.engine.cache.total for stats in run.stats]
    latencies = run.request_latencies
    return HotKeySummary(
        miss_burst=max((t.miss_burst for t in totals), default=0),
        expiry_miss_burst=max((t.expiry_miss_burst for t in totals), default=0),
        refreshes=sum(t.refreshes for t in totals),
        refreshes_failed=sum(t.refreshes_failed for t in totals),
        stale_served=sum(t.stale_served for t in totals),
        request_count=len(latencies),
        request_p50=round(percentile(latencies, "p50"), 6),
        request_p95=round(percentile(latencies, "p95"), 6),
        request_p99=round(percentile(latencies, "p99"), 6),
        request_max=round(latencies[-1], 6) if latencies else 0.0,
    )


def hot_key_lines(summary: HotKeySummary | None) -> list[str]:
    if summary is None:
        return []
    s = summary
    return [
        f"hot keys: at most {s.expiry_miss_burst} callers on the miss path for one key at an "
        f"expiry ({s.miss_burst} at any time); {s.refreshes} refreshed ahead "
        f"({s.refreshes_failed} failed), {s.stale_served} stale answers",
        f"raw calls latency p50 {s.request_p50:.2f} s, p95 {s.request_p95:.2f} s, "
        f"p99 {s.request_p99:.2f} s, max {s.request_max:.2f} s (n={s.request_count})",
    ]
