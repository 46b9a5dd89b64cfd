"""Run a plan: every point of the sweep on every seed, then the target search, in parallel
worker processes; the results are ordered by point and seed, never by completion, so the same
plan gives the same :class:`PlanResult` whatever the number of processes.

The bound and the knee (docs/planning.md): B is the requests a minute the rate configuration
sustains, c the measured upstream requests per generation; no configuration making c requests a
generation serves more than B / c generations a minute. The knee of a line (the points that differ
only in the first axis, in its order) is the first point whose mean p95 exceeds ``plan.knee``
times the line's lowest mean p95: where queueing delay takes off.
"""

from __future__ import annotations

import itertools
import math
import multiprocessing
import os
from collections.abc import Callable, Iterable
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from statistics import fmean
from typing import Any

import msgspec

from simulator.plan.point import PointTask, SeedRun, run_point
from simulator.plan.search import Bisection, SearchOutcome
from simulator.plan.spec import Plan, is_integer_field, point_values, scenario_data
from simulator.replay.scenario import Scenario

__all__ = ["PlanResult", "Point", "SearchResult", "run_plan"]

Progress = Callable[[int, int], None]
"""Called with (replays done, replays expected) as replays finish."""


def _r(value: float) -> float:
    return round(value, 6)


def _mean(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return _r(fmean(present)) if present else None


class Point(msgspec.Struct, frozen=True):
    values: dict[str, Any]
    """Axis path -> value."""
    runs: list[SeedRun]
    """One per seed, in the plan's order."""
    offered_per_minute: float
    served_per_minute: float
    playlist_p50: float
    playlist_p95: float
    playlist_p95_min: float
    playlist_p95_max: float
    failed: int
    rate_limited_share: float
    upstream_requests: float
    requests_per_generation: float | None
    floor: float
    budget_utilisation: float | None
    budget_per_minute: float | None
    bound_per_minute: float | None
    """B over the mean c: the most generations a minute served at this c."""
    knee: bool = False
    """The first point of its line whose p95 exceeds ``knee`` times the line's lowest."""


class SeedSearch(msgspec.Struct, frozen=True):
    seed: int
    outcome: SearchOutcome


class SearchResult(msgspec.Struct, frozen=True):
    fixed: dict[str, Any]
    """The other axes' values this search held (empty when the target axis is the only one)."""
    per_seed: list[SeedSearch]
    answer: float | None
    """The value holding on every seed (the smallest per-seed answer when searching the
    largest); ``None`` when some seed holds nowhere in the range."""
    status: str
    bound_per_minute: float | None
    """B / c measured at the answer (mean over seeds)."""
    offered_per_minute: float | None
    """Offered load at the answer (mean over seeds)."""
    sentence: str


class PlanResult(msgspec.Struct, frozen=True):
    plan: str
    scenario: str
    backend: str
    seeds: list[int]
    axes: list[str]
    points: list[Point]
    searches: list[SearchResult]


class _InProcess(Executor):
    """``--jobs 1``: the same calls, in this process, one at a time."""

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as exc:  # handed to the caller through the future, as a pool does
            future.set_exception(exc)
        return future


def _executor(jobs: int) -> Executor:
    if jobs <= 1:
        return _InProcess()
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    return ProcessPoolExecutor(max_workers=jobs, mp_context=context)


def default_jobs() -> int:
    return os.cpu_count() or 1


def _key(values: dict[str, Any], seed: int) -> bytes:
    return msgspec.json.encode([sorted(values.items()), seed])


class _Runner:
    """Runs batches of (point, seed) replays on the executor, remembering every answer."""

    def __init__(
        self,
        executor: Executor,
        plan: Plan,
        data: dict[str, Any],
        progress: Progress,
        settle: bool,
    ):
        self.executor = executor
        self.settle = settle
        self.plan = plan
        self.data = data
        self.progress = progress
        self.done: dict[bytes, SeedRun] = {}
        self.expected = 0
        self.finished = 0

    def run(self, wanted: list[tuple[dict[str, Any], int]]) -> list[SeedRun]:
        futures: dict[bytes, Future[SeedRun]] = {}
        for values, seed in wanted:
            key = _key(values, seed)
            if key not in self.done and key not in futures:
                task = PointTask(self.data, values, seed, self.plan.backend, self.settle)
                futures[key] = self.executor.submit(run_point, task)
        for key, future in futures.items():
            self.done[key] = future.result()
            self.finished += 1
            self.expected = max(self.expected, self.finished)
            self.progress(self.finished, self.expected)
        return [self.done[_key(values, seed)] for values, seed in wanted]


def run_plan(
    plan: Plan,
    scenario: Scenario,
    *,
    name: str = "plan",
    jobs: int = 1,
    progress: Progress | None = None,
    settle: bool = False,
) -> PlanResult:
    """Run ``plan`` over ``scenario``: every point and seed, then each target search.

    ``jobs`` > 1 runs points in that many worker processes, each of which settles its heap
    before a replay (:func:`simulator.replay.heap.settle_heap`); ``settle`` makes points run
    in this process do so too, for a caller that owns its process (the ``recobeat plan``
    command). The result is the same either way."""
    data = scenario_data(scenario)
    points = point_values(plan)
    expected = len(points) * len(plan.seeds)
    searches_fixed: list[dict[str, Any]] = []
    target = plan.target
    if target is not None:
        others = [a for a in plan.axis if a.path != target.axis]
        grid = itertools.product(*(a.values for a in others))
        searches_fixed = [{a.path: v for a, v in zip(others, vs, strict=True)} for vs in grid]
        span = abs(target.high - target.low)
        tol = target.tolerance or (1 if is_integer_field(data, target) else span / 64)
        steps = 2 + (math.ceil(math.log2(span / tol)) if span > tol else 0)
        expected += len(searches_fixed) * len(plan.seeds) * int(steps)
    with _executor(jobs) as executor:
        runner = _Runner(
            executor, plan, data, progress or (lambda done, total: None), settle or jobs > 1
        )
        runner.expected = expected
        wanted = [(values, seed) for values in points for seed in plan.seeds]
        runs = runner.run(wanted)
        per_point = [runs[i : i + len(plan.seeds)] for i in range(0, len(runs), len(plan.seeds))]
        results = [_point(values, r) for values, r in zip(points, per_point, strict=True)]
        results = _mark_knees(plan, results)
        searches = [_search(runner, fixed) for fixed in searches_fixed]
    return PlanResult(
        plan=name,
        scenario=scenario.name,
        backend=plan.backend,
        seeds=list(plan.seeds),
        axes=[a.path for a in plan.axis],
        points=results,
        searches=searches,
    )


def _point(values: dict[str, Any], runs: list[SeedRun]) -> Point:
    c = _mean(r.requests_per_generation for r in runs)
    budget = _mean(r.budget_per_minute for r in runs)
    return Point(
        values=values,
        runs=runs,
        offered_per_minute=_r(fmean(r.offered_per_minute for r in runs)),
        served_per_minute=_r(fmean(r.served_per_minute for r in runs)),
        playlist_p50=_r(fmean(r.playlist_p50 for r in runs)),
        playlist_p95=_r(fmean(r.playlist_p95 for r in runs)),
        playlist_p95_min=min(r.playlist_p95 for r in runs),
        playlist_p95_max=max(r.playlist_p95 for r in runs),
        failed=sum(r.failed for r in runs),
        rate_limited_share=_r(fmean(r.rate_limited_share for r in runs)),
        upstream_requests=_r(fmean(r.upstream_requests for r in runs)),
        requests_per_generation=c,
        floor=_r(fmean(r.floor for r in runs)),
        budget_utilisation=_mean(r.budget_utilisation for r in runs),
        budget_per_minute=budget,
        bound_per_minute=_r(budget / c) if budget is not None and c else None,
    )


def lines(plan: Plan, points: list[Point]) -> dict[str, list[int]]:
    """The points of each line (same values on every axis but the first), by index, in the
    first axis's order; keyed by a label of the other axes' values."""
    grouped: dict[str, list[int]] = {}
    first = plan.axis[0].path if plan.axis else None
    for i, point in enumerate(points):
        label = ", ".join(f"{k} = {v}" for k, v in point.values.items() if k != first)
        grouped.setdefault(label, []).append(i)
    return grouped


def knee_index(p95s: list[float], factor: float) -> int | None:
    """The first index whose p95 exceeds ``factor`` times the lowest (``None``: none does)."""
    positive = [p for p in p95s if p > 0]
    if not positive:
        return None
    lowest = min(positive)
    return next((i for i, p in enumerate(p95s) if p > factor * lowest), None)


def _mark_knees(plan: Plan, points: list[Point]) -> list[Point]:
    if not plan.axis or not all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in plan.axis[0].values
    ):
        return points
    marked = list(points)
    for indices in lines(plan, points).values():
        at = knee_index([points[i].playlist_p95 for i in indices], plan.knee)
        if at is not None:
            i = indices[at]
            marked[i] = msgspec.structs.replace(points[i], knee=True)
    return marked


def _search(runner: _Runner, fixed: dict[str, Any]) -> SearchResult:
    plan = runner.plan
    target = plan.target
    assert target is not None
    integer = is_integer_field(runner.data, target)
    bisections = {
        seed: Bisection(
            target.low,
            target.high,
            direction=target.direction,
            tolerance=target.tolerance,
            integer=integer,
        )
        for seed in plan.seeds
    }
    while True:
        wanted = [
            ({**fixed, target.axis: value}, seed)
            for seed, b in bisections.items()
            if (value := b.next_value()) is not None
        ]
        if not wanted:
            break
        for (values, seed), run in zip(wanted, runner.run(wanted), strict=True):
            ok = all(
                objective.holds(getattr(run, name)) for name, objective in target.objectives.items()
            )
            bisections[seed].record(values[target.axis], ok)
    per_seed = [SeedSearch(seed, b.outcome) for seed, b in bisections.items() if b.outcome]
    answers = [s.outcome.answer for s in per_seed]
    statuses = {s.outcome.status for s in per_seed}
    if any(a is None for a in answers):
        answer = None
        status = "none"
    else:
        pick = min if target.direction == "largest" else max
        answer = pick(a for a in answers if a is not None)
        status = "whole-range" if statuses == {"whole-range"} else "found"
    bound = offered = None
    if answer is not None:
        at = runner.run([({**fixed, target.axis: answer}, seed) for seed in plan.seeds])
        bound = _mean(r.bound_per_minute for r in at)
        offered = _mean(r.offered_per_minute for r in at)
    result = SearchResult(
        fixed=fixed,
        per_seed=per_seed,
        answer=answer,
        status=status,
        bound_per_minute=bound,
        offered_per_minute=offered,
        sentence="",
    )
    return msgspec.structs.replace(result, sentence=sentence(plan, result))


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"


def sentence(plan: Plan, result: SearchResult) -> str:
    """The search's answer in one sentence, with the spread over seeds."""
    target = plan.target
    assert target is not None
    objectives = " and ".join(o.describe(n) for n, o in target.objectives.items())
    seeds = ", ".join(str(s) for s in plan.seeds)
    where = "".join(f" with {k} = {v}" for k, v in result.fixed.items())
    per_seed = [s.outcome.answer for s in result.per_seed]
    if result.answer is None:
        failing = [s.seed for s in result.per_seed if s.outcome.answer is None]
        near = target.low if target.direction == "largest" else target.high
        return (
            f"No {target.axis}{where} in {target.low:g}..{target.high:g} keeps {objectives} "
            f"on every seed: it fails at {near:g} on seed(s) {', '.join(map(str, failing))}."
        )
    spread = (
        f"per seed {_fmt(min(per_seed))}..{_fmt(max(per_seed))}"  # type: ignore[type-var]
        if len(per_seed) > 1
        else "one seed"
    )
    edge = " (the end of the range: the objectives hold throughout)"
    edge = edge if result.status == "whole-range" else ""
    bound = ""
    if result.bound_per_minute is not None and result.offered_per_minute is not None:
        share = result.offered_per_minute / result.bound_per_minute
        bound = (
            f"; offered load there {result.offered_per_minute:.3g} generations a minute, "
            f"{share:.0%} of the bound B / c = {result.bound_per_minute:.3g}"
        )
    return (
        f"The {target.direction} {target.axis}{where} at which {objectives} hold on every seed "
        f"({seeds}) is {_fmt(result.answer)}{edge} ({spread}){bound}."
    )
