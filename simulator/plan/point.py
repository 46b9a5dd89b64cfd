"""One replication of one point: a full replay (``run_scenario`` + ``build_report``) and the
figures a plan reads from it. :func:`run_point` is what the worker processes run; its task and
its answer are plain picklable Structs, and the answer holds no wall-clock figure, so a plan's
JSON is the same whatever process ran which point.
"""

from __future__ import annotations

import math
from typing import Any

import msgspec

from simulator.plan.spec import apply
from simulator.replay.checks import rate_limited
from simulator.replay.floor import sustainable_rate
from simulator.replay.heap import settle_heap
from simulator.replay.report import build_report
from simulator.replay.runner import RunResult, run_scenario
from simulator.replay.scenario import Scenario

__all__ = ["PointTask", "SeedRun", "budget_per_minute", "run_point"]


def _r(value: float) -> float:
    return round(value, 6)


class PointTask(msgspec.Struct, frozen=True):
    data: dict[str, Any]
    """The scenario as builtins (:func:`simulator.plan.spec.scenario_data`), ``set`` applied."""
    values: dict[str, Any]
    """The point: axis path -> value."""
    seed: int
    backend: str
    settle: bool = False
    """Whether the process running it is the command's own (a worker process, or the command
    with ``--jobs 1``): then its heap is settled first (:mod:`simulator.replay.heap`)."""


class SeedRun(msgspec.Struct, frozen=True):
    """The figures of one replay (one point, one seed)."""

    seed: int
    arrivals: int
    failed: int
    offered_per_minute: float
    """Arrivals over the scenario's duration, per minute."""
    served_per_minute: float
    """Successful arrivals over the virtual time until the last one finished, per minute."""
    playlist_p50: float
    playlist_p95: float
    playlist_p99: float
    upstream_requests: int
    rate_limited: int
    rate_limited_share: float
    requests_per_generation: float | None
    """c: upstream requests per finished arrival (``None`` when none finished)."""
    floor: int
    floor_ratio: float | None
    budget_utilisation: float | None
    budget_per_minute: float | None
    """B: the requests a minute the rate configuration sustains (``None``: unlimited)."""
    bound_per_minute: float | None
    """B / c: the generations a minute no configuration making c requests each can exceed."""
    virtual_seconds: float


def budget_per_minute(run: RunResult) -> float | None:
    """B: the smaller of the engine's budget (every distinct budget's sustainable rate) and the
    upstream's limit (its rules' sustainable rate per client, times the clients it sees), in
    requests a minute. The upstream's limit phases are not read: its rules are."""
    scenario = run.scenario
    instances = scenario.instances
    rates: list[float] = []
    if run.config.engine.rate is not None:
        budgets = 1 if instances.shared_budget else instances.count
        rates.append(sustainable_rate(run.config.engine.rate) * budgets)
    rules = scenario.upstream.rate_limit.rules
    if rules:
        clients = 1 if instances.same_client else instances.count
        rates.append(min(rule.limit / rule.window for rule in rules) * clients)
    rate = min(rates, default=math.inf)
    return None if math.isinf(rate) else _r(rate * 60)


def measure(run: RunResult, seed: int) -> SeedRun:
    m = build_report(run).metrics
    finished = run.completed
    succeeded = finished - run.failed
    calls = len(run.log)
    limited = rate_limited(run.log)
    c = calls / finished if finished else None
    budget = budget_per_minute(run)
    bound = budget / c if budget is not None and c else None
    lat = m.playlist_latency
    return SeedRun(
        seed=seed,
        arrivals=run.arrivals,
        failed=run.failed,
        offered_per_minute=_r(run.arrivals / run.scenario.duration * 60),
        served_per_minute=_r(succeeded / run.finished_at * 60) if run.finished_at else 0.0,
        playlist_p50=lat.p50,
        playlist_p95=lat.p95,
        playlist_p99=lat.p99,
        upstream_requests=calls,
        rate_limited=limited,
        rate_limited_share=_r(limited / calls) if calls else 0.0,
        requests_per_generation=None if c is None else _r(c),
        floor=m.upstream_floor,
        floor_ratio=m.floor_ratio,
        budget_utilisation=m.budget_utilisation,
        budget_per_minute=budget,
        bound_per_minute=None if bound is None else _r(bound),
        virtual_seconds=m.virtual_seconds,
    )


def run_point(task: PointTask) -> SeedRun:
    scenario: Scenario = apply(task.data, task.values, seed=task.seed)
    if task.settle:
        settle_heap(scenario)
    run = run_scenario(scenario, task.backend)  # type: ignore[arg-type]
    return measure(run, task.seed)
