"""Two profiles, one workload: what the tuned values save, beside what the design note claims."""

from __future__ import annotations

from typing import Literal

import msgspec
from rich.console import Console
from rich.table import Table

from simulator.replay.report import Metrics, Report

__all__ = ["Comparison", "compare", "print_comparison"]


Unit = Literal["count", "share", "seconds"]
Better = Literal["lower", "higher"]


class Figure(msgspec.Struct, frozen=True):
    name: str
    baseline: float
    candidate: float
    change: float
    """Relative change from baseline to candidate (-0.6 = 60 % fewer)."""
    claim: str
    """What the design note's "Performance Impact" section expects."""
    unit: Unit = "count"
    """How to show the values: a count, a share (shown as a percentage) or seconds."""
    better: Better = "lower"
    """Which direction is the improvement."""

    @property
    def verdict(self) -> str:
        """``better``, ``worse`` or ``same``, for the candidate against the baseline."""
        if self.candidate == self.baseline:
            return "same"
        improved = (self.candidate < self.baseline) == (self.better == "lower")
        return "better" if improved else "worse"


class Comparison(msgspec.Struct, frozen=True):
    scenario: str
    backend: str
    baseline: str
    candidate: str
    figures: list[Figure]


def _figure(
    name: str,
    baseline: float,
    candidate: float,
    claim: str = "",
    *,
    unit: Unit = "count",
    better: Better = "lower",
) -> Figure:
    change = round((candidate - baseline) / baseline, 6) if baseline else 0.0
    return Figure(name, round(baseline, 6), round(candidate, 6), change, claim, unit, better)


def _share(part: float, whole: float) -> float:
    return part / whole if whole else 0.0


def compare(baseline: Report, candidate: Report) -> Comparison:
    b, c = baseline.metrics, candidate.metrics

    def cached(m: Metrics) -> float:
        hits = sum(ns.hits + ns.negative_hits for ns in m.cache.values())
        return _share(hits, hits + sum(ns.misses for ns in m.cache.values()))

    def deduplicated(m: Metrics) -> float:
        return _share(m.dedup_saved, m.dedup_saved + m.upstream_calls)

    figures = [
        _figure(
            "upstream calls",
            b.upstream_calls,
            c.upstream_calls,
            "60-70% fewer API calls through caching",
        ),
        _figure(
            "lookups answered by the cache",
            cached(b),
            cached(c),
            "3x cache hits",
            unit="share",
            better="higher",
        ),
        _figure(
            "requests saved by deduplication",
            deduplicated(b),
            deduplicated(c),
            "20-30% fewer redundant requests",
            unit="share",
            better="higher",
        ),
        _figure("429 responses", b.rate_limited, c.rate_limited, "80%+ fewer 429s"),
        _figure(
            "playlist latency p50",
            b.playlist_latency.p50,
            c.playlist_latency.p50,
            "40-50% faster for cached requests",
            unit="seconds",
        ),
        _figure(
            "playlist latency p95",
            b.playlist_latency.p95,
            c.playlist_latency.p95,
            unit="seconds",
        ),
    ]
    for pb, pc in zip(b.phases, c.phases, strict=True):
        span = f"true limit {pb.limit}/{pb.window:g} s, {pb.judged_from:g}-{pb.end:g} s"
        figures.append(_figure(f"{span}: used", pb.used, pc.used, unit="share", better="higher"))
        figures.append(
            _figure(f"{span}: answered 429", pb.refused_share, pc.refused_share, unit="share")
        )
    if baseline.profile != "original":
        # The note's claims are about its tuned values against its original ones.
        figures = [msgspec.structs.replace(f, claim="") for f in figures]
    return Comparison(
        baseline.scenario, baseline.backend, baseline.profile, candidate.profile, figures
    )


def _value(value: float, unit: Unit) -> str:
    if unit == "share":
        return f"{value:.1%}"
    if unit == "seconds":
        return f"{value:,.2f} s"
    return f"{value:,.0f}"


def _change(figure: Figure) -> str:
    if figure.baseline == 0 and figure.candidate != 0:
        return "from 0"  # no relative change from nothing
    style = {"better": "green", "worse": "red", "same": "dim"}[figure.verdict]
    return f"[{style}]{figure.change:+.0%} {figure.verdict}[/]"


def print_comparison(comparison: Comparison, console: Console) -> None:
    console.print(
        f"\n[bold]{comparison.scenario}[/]: {comparison.candidate} against {comparison.baseline} "
        f"on {comparison.backend}"
    )
    table = Table(show_edge=False, pad_edge=False)
    table.add_column("measure")
    table.add_column("better if")
    table.add_column(comparison.baseline, justify="right")
    table.add_column(comparison.candidate, justify="right")
    table.add_column(f"change ({comparison.candidate})", justify="right")
    claims = any(f.claim for f in comparison.figures)
    if claims:
        table.add_column("the note claims")
    for f in comparison.figures:
        cells = [f.name, f.better, _value(f.baseline, f.unit), _value(f.candidate, f.unit)]
        cells.append(_change(f))
        if claims:
            cells.append(f.claim)
        table.add_row(*cells)
    console.print(table)
