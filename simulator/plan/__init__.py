"""Capacity planning (``recobeat plan``): sweep any scenario field, search a target by
bisection, and put the measurement beside the bound B / c. See docs/planning.md."""

from simulator.plan.search import Bisection, SearchOutcome, bisect
from simulator.plan.spec import Plan, PlanError, apply, load_plan, parse_path
from simulator.plan.sweep import PlanResult, Point, SearchResult, run_plan

__all__ = [
    "Bisection",
    "Plan",
    "PlanError",
    "PlanResult",
    "Point",
    "SearchOutcome",
    "SearchResult",
    "apply",
    "bisect",
    "load_plan",
    "parse_path",
    "run_plan",
]
