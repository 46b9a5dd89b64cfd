"""Plan files: which scenario to replay, the axes to sweep, the seeds, the outputs, the target.

A plan is a TOML file decoded with msgspec into :class:`Plan`; every problem is one
:class:`PlanError` line naming the file and the field. Axis values are applied to the scenario as
plain data (:func:`apply`): the scenario is turned into builtins with every default filled in, the
value is set at the axis path (``workload[0].arrivals.per_minute``, ``engine.profile``,
``instances.count``), and the whole is converted back into a
:class:`~simulator.replay.scenario.Scenario`, so any scenario field, today's or tomorrow's, is an
axis. See docs/planning.md for the format.
"""

from __future__ import annotations

import itertools
import re
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

from engine.config import ConfigError, read_toml_file
from simulator.replay.library import resolve
from simulator.replay.scenario import Scenario, ScenarioError, load_scenario

__all__ = [
    "OBJECTIVES",
    "Axis",
    "Objective",
    "Plan",
    "PlanError",
    "Target",
    "apply",
    "load_plan",
    "parse_path",
    "point_values",
    "scenario_data",
]

Output = Literal["table", "json", "csv", "png"]

#: The figures an objective can bound, each a field of :class:`simulator.plan.point.SeedRun`.
OBJECTIVES = {
    "playlist_p50": "playlist latency p50, s",
    "playlist_p95": "playlist latency p95, s",
    "playlist_p99": "playlist latency p99, s",
    "failed": "generations or calls that failed",
    "rate_limited": "429 answers",
    "rate_limited_share": "429 answers / upstream requests",
    "upstream_requests": "upstream requests",
    "requests_per_generation": "upstream requests per finished arrival",
    "floor_ratio": "upstream requests / the floor",
    "budget_utilisation": "share of the budget used while work waited",
    "served_per_minute": "successful generations per virtual minute",
}


class PlanError(ConfigError):
    """A plan that cannot be run; the message (one line) names the file, the field and why."""


class _Spec(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    pass


class Objective(_Spec, kw_only=True):
    min: float | None = None
    max: float | None = None

    def holds(self, value: float | None) -> bool:
        if value is None:
            return False
        return (self.min is None or value >= self.min) and (self.max is None or value <= self.max)

    def describe(self, name: str) -> str:
        parts = []
        if self.min is not None:
            parts.append(f"{name} >= {self.min:g}")
        if self.max is not None:
            parts.append(f"{name} <= {self.max:g}")
        return " and ".join(parts)


class Axis(_Spec, kw_only=True):
    path: str
    """A scenario field by its dotted and indexed path: ``workload[0].arrivals.per_minute``."""
    values: Annotated[list[Any], msgspec.Meta(min_length=1)]


class Target(_Spec, kw_only=True):
    """Search one axis, by bisection, for the largest (or smallest) value at which every
    objective holds on every seed."""

    axis: str
    direction: Literal["largest", "smallest"] = "largest"
    low: float
    high: float
    tolerance: Annotated[float, msgspec.Meta(gt=0)] | None = None
    """Stop when the passing and the failing value are this close (default: 1 for an integer
    field, else a 64th of the range)."""
    objectives: dict[str, Objective]


class Plan(_Spec, kw_only=True):
    scenario: str
    """A bundled scenario's name, or a path (relative to the plan file, else to the current
    directory)."""
    description: str = ""
    set: dict[str, Any] = {}
    """Fixed overrides of the scenario, path -> value, applied before the axes."""
    axis: list[Axis] = []
    seeds: Annotated[list[int], msgspec.Meta(min_length=1)] = msgspec.field(
        default_factory=lambda: [1]
    )
    backend: Literal["asyncio", "trio"] = "asyncio"
    outputs: list[Output] = msgspec.field(default_factory=lambda: ["table", "json", "csv"])
    knee: Annotated[float, msgspec.Meta(gt=1)] = 2.0
    """The knee is the first point of a line whose p95 exceeds ``knee`` times its lowest."""
    target: Target | None = None


_STEP = re.compile(r"([A-Za-z_][A-Za-z0-9_\-]*)((?:\[\d+\])*)")


def parse_path(path: str) -> list[str | int]:
    """``workload[0].arrivals.per_minute`` -> ``["workload", 0, "arrivals", "per_minute"]``."""
    steps: list[str | int] = []
    for part in path.split("."):
        match = _STEP.fullmatch(part)
        if match is None:
            raise PlanError(
                f"{path!r} is not a field path (names separated by dots, each optionally "
                "indexed: workload[0].arrivals.per_minute)"
            )
        steps.append(match[1])
        steps.extend(int(i) for i in re.findall(r"\[(\d+)\]", match[2]))
    return steps


def _show(steps: list[str | int]) -> str:
    text = ""
    for step in steps:
        text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else step)
    return text


def _set(data: dict[str, Any], path: str, value: Any) -> None:
    """Set ``value`` at ``path`` in scenario builtins; a missing mapping key is created (the
    engine section holds only its overrides), a missing list item or a field of a non-mapping is
    a :class:`PlanError`."""
    steps = parse_path(path)
    node: Any = data
    for i, step in enumerate(steps):
        last = i == len(steps) - 1
        where = _show(steps[:i]) or "the scenario"
        if isinstance(step, int):
            if not isinstance(node, list):
                raise PlanError(f"{path}: {where} is not a list")
            if step >= len(node):
                raise PlanError(f"{path}: {where} has {len(node)} item(s), no [{step}]")
        elif not isinstance(node, dict):
            raise PlanError(f"{path}: {where} has no fields (it is {node!r})")
        elif i == 0 and step not in node:
            raise PlanError(f"{path}: the scenario has no field {step!r}; known: {sorted(node)}")
        if last:
            node[step] = value
        elif isinstance(node, dict) and step not in node:
            node[step] = {}
            node = node[step]
        else:
            node = node[step]


def scenario_data(scenario: Scenario) -> dict[str, Any]:
    """The scenario as builtins with every default filled in: any field has a path."""
    data: dict[str, Any] = msgspec.to_builtins(scenario)
    return data


def apply(data: dict[str, Any], overrides: dict[str, Any], *, seed: int | None = None) -> Scenario:
    """A copy of ``data`` with each ``path: value`` of ``overrides`` set, converted to a
    :class:`Scenario` (validated as a scenario file is); :class:`PlanError` otherwise."""
    copy = msgspec.json.decode(msgspec.json.encode(data))
    for path, value in overrides.items():
        _set(copy, path, value)
    if seed is not None:
        copy["seed"] = seed
    try:
        return msgspec.convert(copy, Scenario)
    except (msgspec.ValidationError, ValueError) as exc:
        shown = ", ".join(f"{p} = {v!r}" for p, v in overrides.items())
        raise PlanError(f"{shown}: invalid scenario: {exc}") from None


def point_values(plan: Plan) -> list[dict[str, Any]]:
    """Every point of the sweep, the first axis varying slowest, in the plan's order."""
    if not plan.axis:
        return []
    grid = itertools.product(*(axis.values for axis in plan.axis))
    return [{a.path: v for a, v in zip(plan.axis, values, strict=True)} for values in grid]


def _value_at(data: Any, path: str) -> Any:
    node = data
    for step in parse_path(path):
        try:
            node = node[step]
        except (KeyError, IndexError, TypeError):
            return None
    return node


def is_integer_field(data: dict[str, Any], target: Target) -> bool:
    """Whether the target's field holds an integer (the search then tries integers only)."""
    current = _value_at(data, target.axis)
    if current is not None:
        return isinstance(current, int) and not isinstance(current, bool)
    return float(target.low).is_integer() and float(target.high).is_integer()


def load_plan(path: str | Path | Traversable) -> tuple[Plan, Scenario]:
    """Read and validate a plan and its scenario, and try every axis value and target bound on
    the scenario, so that a bad value fails before anything runs. A ``str`` is a path or the
    name of a bundled plan (``recobeat plan --list``)."""
    if isinstance(path, str):
        try:
            path = resolve(path, "plan")
        except ScenarioError as exc:
            raise PlanError(str(exc)) from None
    plan = read_toml_file(path, Plan, what="plan", error=PlanError)
    try:
        scenario = _check(plan, path)
    except (PlanError, ScenarioError) as exc:
        raise PlanError(f"{path}: {exc}") from None
    return plan, scenario


def _check(plan: Plan, path: Path | Traversable) -> Scenario:
    # A plan's scenario is a file beside it, else a bundled scenario by name.
    beside = path.parent / plan.scenario if isinstance(path, Path) else None
    found = beside if beside is not None and beside.is_file() else resolve(plan.scenario)
    base = load_scenario(found)
    if not plan.axis and plan.target is None:
        raise PlanError("nothing to do: give at least one [[axis]] or a [target]")
    paths = [a.path for a in plan.axis]
    if len(set(paths)) != len(paths):
        raise PlanError(f"axis: a path appears twice in {paths}")
    data = scenario_data(base)
    for i, axis in enumerate(plan.axis):
        try:
            parse_path(axis.path)
        except PlanError as exc:
            raise PlanError(f"axis[{i}].path: {exc}") from None
    for key in plan.set:
        try:
            parse_path(key)
        except PlanError as exc:
            raise PlanError(f"set: {exc}") from None
    fixed = apply(data, plan.set)
    data = scenario_data(fixed)
    for point in point_values(plan):
        apply(data, point)
    target = plan.target
    if target is not None:
        try:
            parse_path(target.axis)
        except PlanError as exc:
            raise PlanError(f"target.axis: {exc}") from None
        if not target.objectives:
            raise PlanError("target.objectives: at least one objective")
        unknown = sorted(set(target.objectives) - set(OBJECTIVES))
        if unknown:
            raise PlanError(f"target.objectives: unknown {unknown}; known: {sorted(OBJECTIVES)}")
        if target.low > target.high:
            raise PlanError(f"target: low {target.low:g} is above high {target.high:g}")
        integer = is_integer_field(data, target)
        for bound in (target.low, target.high):
            value: float = int(bound) if integer else bound
            if integer and not float(bound).is_integer():
                raise PlanError(f"target: {target.axis} is an integer field, not {bound:g}")
            apply(data, {target.axis: value})
    return fixed
