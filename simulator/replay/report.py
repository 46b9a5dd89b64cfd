"""The replay report: expectations with PASS/FAIL and the headline metrics.

The JSON form is deterministic: built per request id, aggregated order-insensitively, floats
rounded to the microsecond, and without wall-clock timings, so the same file and random seed
give the same bytes on every run, and asyncio and trio give the same report apart from
``backend``.
"""

from __future__ import annotations

from collections import Counter

import msgspec
from rich.console import Console
from rich.table import Table

from simulator.replay.checks import (
    Check,
    budget_utilisation,
    check_all,
    floor_ratio,
    peak_window,
    percentile,
    phases_of,
    rate_limited,
)
from simulator.replay.floor import calls_by_group
from simulator.replay.hotkeys import HotKeySummary, hot_key_lines, hot_key_summary
from simulator.replay.outage import BreakerSummary, breaker_lines, breaker_summary
from simulator.replay.phases import PhaseFigures
from simulator.replay.prewarm import PrewarmSummary, prewarm_lines, prewarm_summary
from simulator.replay.runner import RunResult

__all__ = ["LatencySummary", "Metrics", "Report", "build_report", "print_report"]


def _r(value: float) -> float:
    return round(value, 6)


class LatencySummary(msgspec.Struct, frozen=True):
    count: int
    p50: float
    p95: float
    p99: float
    max: float


class NamespaceSummary(msgspec.Struct, frozen=True):
    hits: int
    negative_hits: int
    misses: int
    hit_rate: float


class Metrics(msgspec.Struct, frozen=True, omit_defaults=True):
    arrivals: int
    completed: int
    failed: int
    upstream_calls: int
    upstream_by_endpoint: dict[str, int]
    upstream_outcomes: dict[str, int]
    upstream_floor: int
    """The fewest requests any client could have made for the workload's lookups, knowing them
    all in advance (scenarios/README.md, "The floor")."""
    floor_by_endpoint: dict[str, int]
    """The floor per endpoint group (``/v1/audio-features`` stands for both audio-features
    endpoints)."""
    floor_fetches: dict[str, int]
    """Per endpoint group, the fewest fetches of its members (IDs, for a batchable group)."""
    floor_ratio: float | None
    """``upstream_calls / upstream_floor``; ``None`` when the floor is 0."""
    lookups: int
    """The lookups (cache hits and misses) the floor serves."""
    rate_limited: int
    retries: int
    dedup_saved: int
    registry_lookups_avoided: int
    cache: dict[str, NamespaceSummary]
    playlist_latency: LatencySummary
    peak_concurrency: int
    peak_requests_per_minute: int
    """Most requests of one upstream client arriving at the upstream in any 60 s window: what
    the upstream's rate limit sees."""
    peak_sent_per_minute: int
    """Most requests one upstream client sent in any 60 s window: what the engine's budget
    governs (``max_in_window`` with ``at = "sent"``). Network delay varies per request, so
    arrivals can bunch closer than sends: the arrival figure may exceed this one (81 to 80)."""
    budget_utilisation: float | None
    """Grants made while work waited over the grants the rate budget allowed then (its
    sustainable rate over the busy time, plus one per busy stretch); ``None`` when nothing
    waited."""
    budget_busy_seconds: float
    """Seconds during which work waited for the rate budget (summed over distinct budgets)."""
    virtual_seconds: float
    prewarm: PrewarmSummary | None = None
    """Pre-warming (simulator/replay/prewarm.py): grants per priority class and playlist
    latency per stream; absent unless the scenario has ``[prewarm]``."""
    breaker: BreakerSummary | None = None
    hot_keys: HotKeySummary | None = None
    """Hot keys across their expiries (simulator/replay/hotkeys.py); absent unless the
    scenario asks (``[expect.hot_keys]``)."""
    """The circuit breakers and the outage (simulator/replay/outage.py); absent unless the
    engine has a breaker or the scenario judges one."""
    phases: list[PhaseFigures] = []
    """Per phase of the upstream's limit, the share used and refused (simulator/replay/
    phases.py); empty unless the scenario judges phases or its upstream has some."""


class Report(msgspec.Struct, frozen=True):
    scenario: str
    description: str
    backend: str
    profile: str
    seed: int
    passed: bool
    checks: list[Check]
    metrics: Metrics


def build_report(run: RunResult) -> Report:
    checks = check_all(run)
    return Report(
        scenario=run.scenario.name,
        description=run.scenario.description.strip(),
        backend=run.backend,
        profile=run.profile,
        seed=run.scenario.seed,
        passed=all(c.passed for c in checks),
        checks=checks,
        metrics=metrics(run),
    )


def metrics(run: RunResult) -> Metrics:
    latencies = run.playlist_latencies
    cache: dict[str, list[int]] = {}
    for stats in run.stats:
        for name, ns in stats.engine.cache.namespaces.items():
            counts = cache.setdefault(name, [0, 0, 0])
            counts[0] += ns.hits
            counts[1] += ns.negative_hits
            counts[2] += ns.misses
    arrived: dict[str, list[float]] = {}
    sent: dict[str, list[float]] = {}
    for record in run.log:
        arrived.setdefault(record.client, []).append(record.arrival)
        # As the window check counts sends: a request never sent counts at its arrival.
        sent.setdefault(record.client, []).append(record.sent or record.arrival)
    ratio = floor_ratio(run)
    utilisation = budget_utilisation(run)
    budgets = run.stats[:1] if run.scenario.instances.shared_budget else run.stats
    return Metrics(
        arrivals=run.arrivals,
        completed=run.completed,
        failed=run.failed,
        upstream_calls=len(run.log),
        upstream_by_endpoint=dict(sorted(Counter(str(r.endpoint) for r in run.log).items())),
        upstream_outcomes=dict(sorted(Counter(r.outcome for r in run.log).items())),
        upstream_floor=run.floor.total(),
        floor_by_endpoint=run.floor.by_endpoint(),
        floor_fetches=run.floor.fetches(),
        floor_ratio=None if ratio is None else _r(ratio),
        lookups=run.floor.needs,
        rate_limited=rate_limited(run.log),
        retries=sum(sum(s.engine.retries.values()) for s in run.stats),
        dedup_saved=sum(s.dedup_saved for s in run.stats),
        registry_lookups_avoided=sum(s.registry_lookups_avoided for s in run.stats),
        cache={
            name: NamespaceSummary(
                hits=h,
                negative_hits=n,
                misses=m,
                hit_rate=_r((h + n) / (h + n + m)) if h + n + m else 0.0,
            )
            for name, (h, n, m) in sorted(cache.items())
        },
        playlist_latency=LatencySummary(
            count=len(latencies),
            p50=_r(percentile(latencies, "p50")),
            p95=_r(percentile(latencies, "p95")),
            p99=_r(percentile(latencies, "p99")),
            max=_r(latencies[-1]) if latencies else 0.0,
        ),
        peak_concurrency=max((s.engine.concurrency.peak for s in run.stats), default=0),
        peak_requests_per_minute=_peak_per_minute(arrived),
        peak_sent_per_minute=_peak_per_minute(sent),
        budget_utilisation=None if utilisation is None else _r(utilisation),
        budget_busy_seconds=_r(sum(s.engine.rate.busy_time for s in budgets)),
        virtual_seconds=_r(run.finished_at),
        breaker=breaker_summary(run),
        hot_keys=hot_key_summary(run),
        prewarm=prewarm_summary(run),
        phases=phases_of(run),
    )


def _peak_per_minute(times_by_client: dict[str, list[float]]) -> int:
    return max(
        (peak_window(sorted(times), 60.0)[0] for times in times_by_client.values()), default=0
    )


def print_report(report: Report, console: Console, *, wall_seconds: float | None = None) -> None:
    verdict = "[bold green]PASS[/]" if report.passed else "[bold red]FAIL[/]"
    timing = f", {wall_seconds:.2f} s wall" if wall_seconds is not None else ""
    m = report.metrics
    console.print(
        f"\n{verdict} [bold]{report.scenario}[/] on {report.backend} "
        f"(profile {report.profile}, seed {report.seed}): "
        f"{m.virtual_seconds:,.0f} s virtual{timing}"
    )
    table = Table(show_edge=False, pad_edge=False)
    table.add_column("expectation")
    table.add_column("measured", justify="right")
    table.add_column("limit", justify="right")
    table.add_column("")
    for check in report.checks:
        mark = "[green]PASS[/]" if check.passed else "[red]FAIL[/]"
        table.add_row(check.name, check.measured, check.limit, mark)
        for line in check.evidence:
            table.add_row(f"[dim]  {line}[/]", "", "", "")
    console.print(table)
    lat = m.playlist_latency
    endpoints = ", ".join(f"{k} {v}" for k, v in m.upstream_by_endpoint.items())
    rates = ", ".join(f"{k} {v.hit_rate:.0%}" for k, v in m.cache.items() if v.hits + v.misses)
    console.print(
        f"  arrivals {m.arrivals} (failed {m.failed}); upstream calls {m.upstream_calls}: "
        f"{endpoints}\n"
        f"  429s {m.rate_limited}, retries {m.retries}, dedup saved {m.dedup_saved}, "
        f"registry lookups avoided {m.registry_lookups_avoided}\n"
        f"  cache hit rates: {rates or 'n/a'}\n"
        f"  {_floor_line(m)}\n"
        f"  {_budget_line(m)}\n"
        + "".join(f"  {line}\n" for line in _phase_lines(m))
        + f"  playlist latency p50 {lat.p50:.2f} s, p95 {lat.p95:.2f} s, p99 {lat.p99:.2f} s "
        f"(n={lat.count}); peak concurrency {m.peak_concurrency}\n"
        f"  busiest 60 s of one client: {m.peak_sent_per_minute} sent, "
        f"{m.peak_requests_per_minute} arrived at the upstream"
        + (
            " (network delay varies: arrivals bunch closer than sends)"
            if m.peak_requests_per_minute != m.peak_sent_per_minute
            else ""
        )
    )
    for line in breaker_lines(m.breaker):
        console.print(f"  {line}")
    for line in hot_key_lines(m.hot_keys):
        console.print(f"  {line}")
    for line in prewarm_lines(m.prewarm):
        console.print(f"  {line}")


def _floor_line(m: Metrics) -> str:
    """``upstream requests / floor: 684 / 212 = 3.23 (excess: ...)``, the groups furthest above
    their floor first."""
    ratio = "n/a" if m.floor_ratio is None else f"{m.floor_ratio:.2f}"
    line = f"upstream requests / floor: {m.upstream_calls} / {m.upstream_floor} = {ratio}"
    excess = []
    for group, calls in calls_by_group(m.upstream_by_endpoint).items():
        made = sum(calls.values())
        floor = m.floor_by_endpoint.get(group, 0)
        if made > floor:
            excess.append((floor - made, " + ".join(calls), made, floor))
    if excess:
        line += (
            " (excess: "
            + ", ".join(f"{label} {made} vs {floor}" for _, label, made, floor in sorted(excess))
            + ")"
        )
    return line + f", from {m.lookups} lookups"


def _phase_lines(m: Metrics) -> list[str]:
    """One line per phase of the upstream's limit: the share used and refused."""
    return [
        f"true limit {p.limit}/{p.window:g} s ({p.judged_from:g}-{p.end:g} s): "
        f"{p.used:.0%} used, {p.refused_share:.2%} answered 429"
        for p in m.phases
    ]


def _budget_line(m: Metrics) -> str:
    if m.budget_utilisation is None:
        return "budget used while work waited: n/a (nothing waited)"
    return (
        f"budget used while work waited: {m.budget_utilisation:.0%} "
        f"({m.budget_busy_seconds:,.1f} s with work waiting)"
    )
