"""Pre-warming in a replay: the scenario's ``[prewarm]`` step and what the report shows of it.

At each instant of ``[prewarm].at`` every instance calls
:meth:`recobeat.client.RecoBeatClient.prewarm` with the most popular seeds of the first playlist
stream's seed pool (the ``seeds`` most popular known tracks, and the ``unknown`` most popular
unknown IDs, which the registry then remembers as unknown): the pool is Zipf-popular, so these
are the seeds users draw most. Each request waits until no interactive request has been served
for ``[prewarm].quiet`` seconds (``Engine.until_quiet``: spare budget only), then goes at
background priority (behind interactive ones where the rate limiter has priority classes,
``RateLimitConfig.background_share``, on in the ``adaptive`` profile). With ``baseline = true``
the replay runs again under the same profile without the step, and the report shows each
stream's latency beside it (``[expect.prewarm]`` judges them). The step runs under the
profiles ``[prewarm].profiles`` names (every run when empty), so
``compare`` shows the same workload with and without it.

The report's figures (:class:`PrewarmSummary`, only for scenarios with ``[prewarm]``): whether
the step ran, the IDs it asked for, the rate limiter's grants per class and the share
background took while interactive requests waited, and the playlist latency of each stream
(e.g. a burst after the idle period, and the generations that competed with the pre-warming).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio
import msgspec

from simulator import Catalog
from simulator.replay.scenario import PlaylistStream, Scenario

if TYPE_CHECKING:
    from recobeat.client import RecoBeatClient
    from simulator.replay.runner import RunResult

__all__ = [
    "PrewarmSummary",
    "StreamLatency",
    "prewarm_ids",
    "prewarm_lines",
    "prewarm_runs",
    "prewarm_summary",
    "run_prewarm",
]


def prewarm_runs(scenario: Scenario, profile: str) -> bool:
    """Whether the scenario's ``[prewarm]`` step runs under ``profile``."""
    spec = scenario.prewarm
    return spec is not None and (not spec.profiles or profile in spec.profiles)


def prewarm_ids(scenario: Scenario, catalog: Catalog) -> list[str]:
    """The most popular seeds of the first playlist stream's pool: its top known tracks by
    rank, then its top unknown IDs."""
    spec = scenario.prewarm
    if spec is None:
        return []
    pool = next(
        (s.seed_pool for s in scenario.workload if isinstance(s, PlaylistStream)),
        scenario.workload[0].seed_pool,
    )
    known = [catalog.spotify_id(rank) for rank in range(min(spec.seeds, pool.size))]
    unknown = [catalog.unknown_spotify_id(n) for n in range(min(spec.unknown, pool.unknown_size))]
    return known + unknown


async def run_prewarm(
    clients: list[RecoBeatClient], scenario: Scenario, catalog: Catalog, warmed: list[int]
) -> None:
    """At each ``[prewarm].at`` instant, every instance pre-warms the popular seeds (one after
    the other, in instance order); ``warmed`` receives the IDs each call asked for."""
    spec = scenario.prewarm
    assert spec is not None
    ids = prewarm_ids(scenario, catalog)
    for at in sorted(spec.at):
        await anyio.sleep_until(at)
        for client in clients:
            warmed.append(await client.prewarm(ids, quiet=spec.quiet))


class StreamLatency(msgspec.Struct, frozen=True):
    stream: str
    count: int
    p50: float
    p95: float
    max: float


class PrewarmSummary(msgspec.Struct, frozen=True):
    ran: bool
    """Whether the step ran under this run's profile."""
    asked: int
    """IDs the pre-warming asked the upstream for (summed over calls and instances)."""
    background_grants: int
    """Rate grants to background requests (pre-warming, refreshes ahead)."""
    interactive_grants: int
    contended_grants: int
    """Grants made while interactive and background requests both waited."""
    background_ahead: int
    """Of those, the grants background took (its bounded share in use)."""
    streams: list[StreamLatency]
    """Playlist latency per workload stream."""
    without: list[StreamLatency] = []
    """With ``[prewarm] baseline = true``: the same, replayed under the same profile with the
    step off (empty otherwise)."""


def prewarm_summary(run: RunResult) -> PrewarmSummary | None:
    """The figures, for scenarios with ``[prewarm]``; ``None`` otherwise."""
    if run.scenario.prewarm is None:
        return None
    budgets = run.stats[:1] if run.scenario.instances.shared_budget else run.stats
    rates = [s.engine.rate for s in budgets]
    names = [stream.name for stream in run.scenario.workload]
    background = sum(r.background_grants for r in rates)
    return PrewarmSummary(
        ran=prewarm_runs(run.scenario, run.profile),
        asked=run.prewarmed,
        background_grants=background,
        interactive_grants=sum(r.granted for r in rates) - background,
        contended_grants=sum(r.contended_grants for r in rates),
        background_ahead=sum(r.background_ahead for r in rates),
        streams=_stream_latencies(names, run.stream_latencies),
        without=_stream_latencies(names, run.stream_baseline) if run.stream_baseline else [],
    )


def _stream_latencies(names: list[str], latencies: dict[str, list[float]]) -> list[StreamLatency]:
    from simulator.replay.checks import percentile

    streams = []
    for name in names:
        values = sorted(latencies.get(name, []))
        streams.append(
            StreamLatency(
                stream=name,
                count=len(values),
                p50=round(percentile(values, "p50"), 6),
                p95=round(percentile(values, "p95"), 6),
                max=round(values[-1], 6) if values else 0.0,
            )
        )
    return streams


def prewarm_lines(summary: PrewarmSummary | None) -> list[str]:
    if summary is None:
        return []
    s = summary
    lines = [
        (
            f"pre-warming: {s.asked} IDs asked at background priority"
            if s.ran
            else "pre-warming: off under this profile"
        )
        + f"; grants {s.interactive_grants} interactive, {s.background_grants} background; "
        f"{s.contended_grants} made while both classes waited, {s.background_ahead} of them "
        "to background"
    ]
    without = {t.stream: t for t in s.without}
    for t in s.streams:
        line = (
            f"stream {t.stream}: playlist latency p50 {t.p50:.2f} s, p95 {t.p95:.2f} s, "
            f"max {t.max:.2f} s (n={t.count})"
        )
        if (w := without.get(t.stream)) is not None:
            line += f"; without pre-warming p50 {w.p50:.2f} s, p95 {w.p95:.2f} s, max {w.max:.2f} s"
        lines.append(line)
    return lines
