"""Expectations, checked against what the simulator recorded and what the engines observed.

Each check is a pure function of a :class:`~simulator.replay.runner.RunResult`; a failed one
carries its evidence (the window and the requests in it, the key and its two stores, ...).
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence

import msgspec

from simulator import RequestRecord
from simulator.replay.audit import EVIDENCE
from simulator.replay.floor import budget_utilisation as _utilisation
from simulator.replay.hotkeys import hot_key_summary, refreshes_ahead
from simulator.replay.outage import breaker_summary
from simulator.replay.phases import PhaseFigures, phase_figures
from simulator.replay.prewarm import prewarm_summary
from simulator.replay.runner import RunResult
from simulator.replay.scenario import (
    Bound,
    BreakerExpect,
    HotKeysExpect,
    PhasesExpect,
    PrewarmExpect,
    WindowExpect,
)

__all__ = ["Check", "budget_utilisation", "check_all", "floor_ratio", "peak_window", "percentile"]

_EPS = 1e-9
_EVIDENCE = EVIDENCE


class Check(msgspec.Struct, frozen=True):
    name: str
    passed: bool
    measured: str
    limit: str
    evidence: list[str] = []


def check_all(run: RunResult) -> list[Check]:
    expect = run.scenario.expect
    checks = [_finished(run)]
    if expect.profiles and run.profile not in expect.profiles:
        return checks  # shown for comparison only
    checks += [_window(run, rule) for rule in expect.max_in_window]
    if expect.min_spacing is not None:
        checks.append(_spacing(run, expect.min_spacing))
    if expect.max_concurrency is not None:
        peak = max((s.engine.concurrency.peak for s in run.stats), default=0)
        checks.append(_bounded("max concurrency", peak, Bound(max=expect.max_concurrency)))
    if expect.rate_limited is not None:
        checks.append(_bounded("429 responses", rate_limited(run.log), expect.rate_limited))
    if expect.retry_after_honoured:
        checks.append(_retry_after(run))
    if expect.retries is not None:
        retries = sum(sum(s.engine.retries.values()) for s in run.stats)
        checks.append(_bounded("retries", retries, expect.retries))
    if expect.upstream_calls is not None:
        checks.append(_bounded("upstream calls", len(run.log), expect.upstream_calls))
    for endpoint, bound in sorted(expect.upstream_calls_by_endpoint.items()):
        calls = sum(1 for r in run.log if r.endpoint == endpoint)
        checks.append(_bounded(f"upstream calls {endpoint}", calls, bound))
    if expect.ttl:
        checks.append(_ttl(run))
    if expect.no_duplicate_in_flight:
        checks.append(_duplicates(run))
    latencies = run.playlist_latencies
    for name, limit in sorted(expect.playlist_latency.items()):
        value = latencies[-1] if name == "max" and latencies else percentile(latencies, name)
        checks.append(_bounded(f"playlist latency {name} (s)", value, Bound(max=limit)))
    for namespace, minimum in sorted(expect.hit_rate.items()):
        checks.append(
            _bounded(f"hit rate {namespace}", hit_rate(run, namespace), Bound(min=minimum))
        )
    if expect.floor_ratio is not None:
        checks.append(_floor(run, expect.floor_ratio))
    if expect.budget_utilisation is not None:
        checks.append(_budget(run, expect.budget_utilisation))
    if expect.breaker is not None:
        checks += _breaker(run, expect.breaker)
    if expect.hot_keys is not None and refreshes_ahead(run):
        checks += _hot_keys(run, expect.hot_keys)
    if expect.phases is not None:
        checks += _phases(run, expect.phases)
    if expect.prewarm is not None and run.stream_baseline:
        checks += _prewarm(run, expect.prewarm)
    # Always checked: a replay whose generations failed must not pass by saying nothing about
    # failures; a scenario that means to show them says so (``failed = { min = 1 }``).
    failed = run.failed
    checks.append(_bounded("failed generations/calls", failed, expect.failed or Bound(max=0)))
    return checks


# -- measures shared with the report ------------------------------------------------------------


def percentile(sorted_values: Sequence[float], name: str) -> float:
    """Nearest-rank percentile (``"p95"``) of sorted values; 0.0 when there are none."""
    if not sorted_values:
        return 0.0
    rank = math.ceil(float(name[1:]) / 100 * len(sorted_values))
    return sorted_values[max(rank, 1) - 1]


def rate_limited(log: Iterable[RequestRecord]) -> int:
    return sum(1 for r in log if r.outcome in ("rate_limited", "blocked"))


def hit_rate(run: RunResult, namespace: str) -> float:
    hits = lookups = 0
    for stats in run.stats:
        ns = stats.engine.cache.namespaces.get(namespace)
        if ns is not None:
            hits += ns.hits + ns.negative_hits
            lookups += ns.hits + ns.negative_hits + ns.misses
    return hits / lookups if lookups else 0.0


def floor_ratio(run: RunResult) -> float | None:
    """Upstream calls over the floor; ``None`` when the floor is 0 (no lookup needed any)."""
    floor = run.floor.total()
    return len(run.log) / floor if floor else None


def budget_utilisation(run: RunResult) -> float | None:
    """The share of what the rate budget allowed while work waited that it granted, over every
    distinct budget (one when instances share it); ``None`` when no request ever waited."""
    rates = [s.engine.rate for s in run.stats]
    if run.scenario.instances.shared_budget:
        rates = rates[:1]  # the same limiter in every instance
    rate_config = run.config.engine.rate
    return None if rate_config is None else _utilisation(rates, rate_config)


def peak_window(times: Sequence[float], window: float) -> tuple[int, int]:
    """The most instants in any half-open ``[t, t + window)``, and the index where it starts."""
    best = (0, 0)
    j = 0
    for i, start in enumerate(times):
        while j < len(times) and times[j] < start + window - _EPS:
            j += 1
        best = max(best, (j - i, -i))
    return best[0], -best[1]


def _by_client(log: Iterable[RequestRecord], scope: str) -> dict[str, list[RequestRecord]]:
    groups: dict[str, list[RequestRecord]] = defaultdict(list)
    for record in log:
        groups[record.client if scope == "client" else "all"].append(record)
    return groups


# -- the checks -----------------------------------------------------------------------------------


def _bounded(name: str, value: float, bound: Bound) -> Check:
    shown = f"{value:.3f}" if isinstance(value, float) else str(value)
    return Check(name, bound.holds(value), shown, bound.describe())


def _floor(run: RunResult, bound: Bound) -> Check:
    ratio = floor_ratio(run)
    calls, floor = len(run.log), run.floor.total()
    name = "upstream requests / floor"
    if ratio is None:  # nothing was needed: only no call at all is at the floor
        return Check(name, calls == 0, f"{calls} / 0", bound.describe())
    return Check(name, bound.holds(ratio), f"{calls} / {floor} = {ratio:.2f}", bound.describe())


def _budget(run: RunResult, bound: Bound) -> Check:
    share = budget_utilisation(run)
    name = "budget used while work waited"
    if share is None:
        return Check(name, bound.min is None, "n/a (nothing waited)", bound.describe(".0%"))
    return Check(name, bound.holds(share), f"{share:.1%}", bound.describe(".0%"))


def phases_of(run: RunResult) -> list[PhaseFigures]:
    """The run's figures per phase of the upstream's limit (none unless the scenario judges
    phases or its upstream has some)."""
    scenario = run.scenario
    config = scenario.upstream.rate_limit
    if scenario.expect.phases is None and not config.phases:
        return []
    settle = scenario.expect.phases.settle if scenario.expect.phases is not None else 0.0
    return phase_figures(run.log, config, end=scenario.duration, settle=settle)


def _phases(run: RunResult, expect: PhasesExpect) -> list[Check]:
    checks = []
    for phase in phases_of(run):
        name = f"true limit {phase.limit}/{phase.window:g} s, {phase.judged_from:g}-{phase.end:g} s"
        if expect.used is not None:
            checks.append(
                Check(
                    f"{name}: used",
                    phase.used >= expect.used,
                    f"{phase.used:.1%} ({phase.admitted} admitted)",
                    f">= {expect.used:.0%}",
                )
            )
        if expect.refused is not None:
            checks.append(
                Check(
                    f"{name}: answered 429",
                    phase.refused_share <= expect.refused,
                    f"{phase.refused_share:.2%} ({phase.refused})",
                    f"<= {expect.refused:.0%}",
                )
            )
    return checks


def _hot_keys(run: RunResult, expect: HotKeysExpect) -> list[Check]:
    summary = hot_key_summary(run)
    assert summary is not None  # the scenario asks for the figures
    checks = []
    if expect.expiry_miss_burst is not None:
        checks.append(
            _bounded(
                "callers on the miss path at an expiry",
                summary.expiry_miss_burst,
                expect.expiry_miss_burst,
            )
        )
    if expect.stale_served is not None:
        checks.append(_bounded("stale answers", summary.stale_served, expect.stale_served))
    latencies = run.request_latencies
    for name, limit in sorted(expect.request_latency.items()):
        value = latencies[-1] if name == "max" and latencies else percentile(latencies, name)
        checks.append(_bounded(f"raw call latency {name} (s)", value, Bound(max=limit)))
    return checks


def _prewarm(run: RunResult, expect: PrewarmExpect) -> list[Check]:
    summary = prewarm_summary(run)
    assert summary is not None  # the scenario has [prewarm]
    warm = {t.stream: t for t in summary.streams}
    cold = {t.stream: t for t in summary.without}
    checks = []
    for name in expect.not_slower:
        w, c = warm[name], cold[name]
        checks.append(
            Check(
                f"stream {name} not slower, p50/p95/max (s)",
                # A stream with no generation on either side proves nothing: it fails.
                w.count > 0
                and c.count > 0
                and w.p50 <= c.p50
                and w.p95 <= c.p95
                and w.max <= c.max,
                f"{w.p50:.2f}, {w.p95:.2f}, {w.max:.2f}",
                f"<= {c.p50:.2f}, {c.p95:.2f}, {c.max:.2f}",
            )
        )
    for name in expect.faster_p95:
        w, c = warm[name], cold[name]
        checks.append(
            Check(
                f"stream {name} p95 lower (s)",
                w.count > 0 and c.count > 0 and w.p95 < c.p95,
                f"{w.p95:.2f}",
                f"< {c.p95:.2f}",
            )
        )
    return checks


def _breaker(run: RunResult, expect: BreakerExpect) -> list[Check]:
    summary = breaker_summary(run)
    assert summary is not None  # the scenario judges a breaker
    checks = []
    for field in msgspec.structs.fields(expect):
        bound = getattr(expect, field.name)
        if bound is None:
            continue
        name = f"breaker: {field.name.replace('_', ' ')}"
        value = getattr(summary, field.name)
        if not summary.enabled:
            checks.append(Check(name, True, "n/a (no breaker)", bound.describe()))
        elif value is None:
            checks.append(Check(name, False, "never", bound.describe()))
        else:
            checks.append(_bounded(name, value, bound))
    return checks


def _finished(run: RunResult) -> Check:
    missing = run.arrivals - run.completed
    evidence = [f"{missing} of {run.arrivals} arrivals unfinished"] if run.timed_out else []
    return Check(
        "replay finished within the horizon",
        not run.timed_out,
        f"{run.finished_at:.3f} s",
        f"<= {run.scenario.horizon:g} s",
        evidence,
    )


def _window(run: RunResult, rule: WindowExpect) -> Check:
    worst, evidence = 0, []
    for client, records in sorted(_by_client(run.log, rule.scope).items()):
        key = (lambda r: r.arrival) if rule.at == "arrival" else (lambda r: r.sent or r.arrival)
        ordered = sorted(records, key=key)
        times = [key(r) for r in ordered]
        count, start = peak_window(times, rule.window)
        if count > worst:
            worst = count
            inside = ordered[start : start + count]
            evidence = [
                f"{client}: {count} requests in [{times[start]:.3f}, "
                f"{times[start] + rule.window:.3f})",
                *(f"  {key(r):.3f} {r.path} {r.outcome}" for r in inside[:_EVIDENCE]),
            ]
    name = f"max requests per {rule.window:g} s ({rule.scope}, at {rule.at})"
    passed = worst <= rule.limit
    return Check(name, passed, str(worst), f"<= {rule.limit}", [] if passed else evidence)


def _spacing(run: RunResult, minimum: float) -> Check:
    smallest, evidence = math.inf, []
    for client, records in sorted(_by_client(run.log, "client").items()):
        ordered = sorted(records, key=lambda r: r.sent or r.arrival)
        for a, b in itertools.pairwise(ordered):
            gap = (b.sent or b.arrival) - (a.sent or a.arrival)
            if gap < smallest:
                smallest = gap
                evidence = [f"{client}: {a.path} at {a.sent:.6f}, then {b.path} at {b.sent:.6f}"]
    passed = smallest >= minimum - _EPS
    shown = "n/a" if smallest == math.inf else f"{smallest:.3f} s"
    return Check(
        "min spacing between sends", passed, shown, f">= {minimum:g} s", [] if passed else evidence
    )


def _retry_after(run: RunResult) -> Check:
    problems: list[str] = []
    told = 0
    for client, records in sorted(_by_client(run.log, "client").items()):
        sends = sorted(r.sent for r in records if r.sent is not None)
        for r in records:
            if r.outcome == "blocked":
                problems.append(f"{client}: in the penalty box at {r.arrival:.3f}")
            if r.retry_after is None or r.responded is None:
                continue
            told += 1
            until = r.responded + r.retry_after
            early = [t for t in sends if r.responded < t < until - _EPS]
            if early:
                problems.append(
                    f"{client}: told at {r.responded:.3f} to wait {r.retry_after} s, "
                    f"sent again at {early[0]:.3f}"
                )
    return Check(
        "Retry-After honoured",
        not problems,
        f"{len(problems)} violations after {told} 429s",
        "0 violations",
        problems[:_EVIDENCE],
    )


def _ttl(run: RunResult) -> Check:
    """Entries are never served past their TTL, nor stored again before it unless evicted:
    audited per store while the replay ran (:class:`~simulator.replay.audit.TtlAudit`)."""
    violations = sum(audit.violations for audit in run.ttl)
    checked = sum(audit.checked for audit in run.ttl)
    return Check(
        "TTL policies",
        not violations,
        f"{violations} violations in {checked} cache events",
        "0 violations",
        [line for audit in run.ttl for line in audit.evidence][:_EVIDENCE],
    )


def _duplicates(run: RunResult) -> Check:
    timeout = run.config.engine.attempt_timeout
    groups: dict[tuple[str, str, str], list[tuple[float, float]]] = defaultdict(list)
    for r in run.log:
        sent = r.sent if r.sent is not None else r.arrival
        if r.responded is not None:
            end = r.responded
        elif r.outcome == "reset":
            end = r.arrival  # dropped on arrival: the client knows at once and may retry
        else:
            end = sent + timeout  # no answer ever: the client gives up at its deadline
        groups[(r.client, r.path, r.params)].append((sent, end))
    evidence: list[str] = []
    overlaps = 0
    for (client, path, _), spans in sorted(groups.items()):
        spans.sort()
        for (a_start, a_end), (b_start, _) in itertools.pairwise(spans):
            if b_start < a_end - _EPS:
                overlaps += 1
                evidence.append(
                    f"{client} {path}: in flight {a_start:.3f}-{a_end:.3f}, again at {b_start:.3f}"
                )
    return Check(
        "no identical requests in flight at once",
        not overlaps,
        str(overlaps),
        "0",
        evidence[:_EVIDENCE],
    )
