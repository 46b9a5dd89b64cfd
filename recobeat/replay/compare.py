"""Two profiles, one workload: what the tuned values save, beside what the design note claims."""

from __future__ import annotations

import msgspec
from rich.console import Console
from rich.table import Table

from recobeat.replay.report import Metrics, Report

__all__ = ["Comparison", "compare", "print_comparison"]


class Figure(msgspec.Struct, frozen=True):
    name: str
    baseline: float
    candidate: float
    change: float
    """Relative change from baseline to candidate (-0.6 = 60 % fewer)."""
    claim: str
    """What the design note's "Performance Impact" section expects."""


class Comparison(msgspec.Struct, frozen=True):
    scenario: str
    backend: str
    baseline: str
    candidate: str
    figures: list[Figure]


def _figure(name: str, baseline: float, candidate: float, claim: str = "") -> Figure:
    change = round((candidate - baseline) / baseline, 6) if baseline else 0.0
    return Figure(name, round(baseline, 6), round(candidate, 6), change, claim)


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
        _figure("lookups answered by the cache", cached(b), cached(c), "3x cache hits"),
        _figure(
            "requests saved by deduplication (share)",
            deduplicated(b),
            deduplicated(c),
            "20-30% fewer redundant requests",
        ),
        _figure("429 responses", b.rate_limited, c.rate_limited, "80%+ fewer 429s"),
        _figure(
            "playlist latency p50 (s)",
            b.playlist_latency.p50,
            c.playlist_latency.p50,
            "40-50% faster for cached requests",
        ),
        _figure("playlist latency p95 (s)", b.playlist_latency.p95, c.playlist_latency.p95),
    ]
    return Comparison(
        baseline.scenario, baseline.backend, baseline.profile, candidate.profile, figures
    )


def print_comparison(comparison: Comparison, console: Console) -> None:
    console.print(
        f"\n[bold]{comparison.scenario}[/]: {comparison.candidate} against {comparison.baseline} "
        f"on {comparison.backend}"
    )
    table = Table(show_edge=False, pad_edge=False)
    for column in (
        "measure",
        comparison.baseline,
        comparison.candidate,
        "change",
        "the note claims",
    ):
        table.add_column(
            column, justify="left" if column in ("measure", "the note claims") else "right"
        )
    for f in comparison.figures:
        table.add_row(f.name, f"{f.baseline:g}", f"{f.candidate:g}", f"{f.change:+.0%}", f.claim)
    console.print(table)
