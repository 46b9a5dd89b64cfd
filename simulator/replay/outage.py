"""An outage and the circuit breakers: what a replay shows about failing fast.

The outage is the union of the scenario's fault windows in which every request fails
(``error + timeout + reset >= 1``, on the service or on an endpoint). The figures:

- ``sent``: upstream requests that arrived at the upstream during it (a breaker sends fewer);
- ``recovered_after``: seconds from its end until every endpoint called during it had answered
  again (a breaker waits for its cool-down to probe; retries find it back at once);
- ``failure_latency``: the mean seconds from an upstream call to its error, over the calls
  that failed (retrying into the outage, or failing fast);
- from the engines' breaker statistics: circuits opened, calls failed fast (not sent), stale
  answers.
"""

from __future__ import annotations

import msgspec

from simulator.replay.runner import RunResult

__all__ = ["BreakerSummary", "breaker_summary", "outage_windows"]


def _r(value: float) -> float:
    return round(value, 6)


class BreakerSummary(msgspec.Struct, frozen=True):
    enabled: bool
    """Whether the run's engine had a breaker (``EngineConfig.breaker``)."""
    opened: int
    failed_fast: int
    """Calls refused without being sent (stale answers included)."""
    stale_answers: int
    outage: list[tuple[float, float]]
    """The outage's windows, ``[start, end)`` seconds."""
    sent: int
    """Upstream requests that arrived during the outage."""
    recovered_after: float | None
    """Seconds from the outage's end until every endpoint called during it answered again;
    ``None`` when one never did (or there was no outage)."""
    failures: int
    """Upstream calls that failed (after their retries, or failing fast)."""
    failure_latency: float
    """Mean seconds from an upstream call to its error, over ``failures``."""


def outage_windows(run: RunResult) -> list[tuple[float, float]]:
    upstream = run.scenario.upstream
    spans = []
    for profile in (upstream.service, *upstream.endpoints.values()):
        for window in profile.windows:
            rates = window.rates
            if rates.error + rates.timeout + rates.reset >= 1.0 - 1e-9:
                spans.append((window.start, window.end))
    merged: list[tuple[float, float]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def breaker_summary(run: RunResult) -> BreakerSummary | None:
    """The figures, when the run has a breaker or the scenario judges one; else ``None``
    (reports of other scenarios do not change)."""
    enabled = run.config.engine.breaker is not None
    if not enabled and run.scenario.expect.breaker is None:
        return None
    windows = outage_windows(run)
    breakers = [b for s in run.stats for b in s.engine.breakers.values()]
    sent = sum(1 for r in run.log if any(a <= r.arrival < b for a, b in windows))
    recovered: float | None = None
    if windows:
        end = windows[-1][1]
        during = {r.endpoint for r in run.log if any(a <= r.arrival < b for a, b in windows)}
        first_ok: dict[str | None, float] = {}
        for r in run.log:
            if r.outcome == "ok" and r.arrival >= end and r.responded is not None:
                first_ok.setdefault(r.endpoint, r.responded)
        if during and during <= set(first_ok):
            recovered = _r(max(first_ok[e] for e in during) - end)
    failures = sum(s.engine.failures for s in run.stats)
    seconds = sum(s.engine.failure_seconds for s in run.stats)
    return BreakerSummary(
        enabled=enabled,
        opened=sum(b.opened for b in breakers),
        failed_fast=sum(b.failed_fast for b in breakers),
        stale_answers=sum(b.stale_answers for b in breakers),
        outage=[(_r(a), _r(b)) for a, b in windows],
        sent=sent,
        recovered_after=recovered,
        failures=failures,
        failure_latency=_r(seconds / failures) if failures else 0.0,
    )


def breaker_lines(summary: BreakerSummary | None) -> list[str]:
    """The report's lines: the breaker's, then the outage's figures."""
    if summary is None:
        return []
    s = summary
    lines = [
        (
            f"breaker: opened {s.opened} times, {s.failed_fast} calls failed fast (not sent), "
            f"{s.stale_answers} stale answers"
        )
        if s.enabled
        else "breaker: off"
    ]
    if s.outage:
        spans = ", ".join(f"{a:g}-{b:g} s" for a, b in s.outage)
        recovered = "never" if s.recovered_after is None else f"{s.recovered_after:.1f} s"
        lines.append(
            f"outage {spans}: {s.sent} upstream requests sent into it; every endpoint answering "
            f"again {recovered} after it; a failed call took {s.failure_latency:.3f} s on "
            f"average (n={s.failures})"
        )
    return lines
