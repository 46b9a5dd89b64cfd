"""``recobeat replay``: run scenario files, print the reports, exit 1 if an expectation failed."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import msgspec
from rich.console import Console

from recobeat.replay.compare import Comparison, compare, print_comparison
from recobeat.replay.report import Report, build_report, print_report
from recobeat.replay.runner import run_scenario
from recobeat.replay.scenario import Scenario, ScenarioError, load_scenario

__all__ = ["ReplayOutput", "add_replay_command"]


class ReplayOutput(msgspec.Struct, frozen=True):
    """What ``--json`` writes: deterministic for the same files and seeds."""

    reports: list[Report]
    comparisons: list[Comparison]


def add_replay_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "replay",
        help="replay scenario files in virtual time against the in-process simulator",
        description=(
            "Replay each scenario on each of its backends in virtual time and check its "
            "expectations. Exit status: 0 when every expectation held, 1 when one failed, "
            "2 when a scenario file is invalid."
        ),
    )
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE")
    parser.add_argument(
        "--backend",
        choices=("asyncio", "trio"),
        action="append",
        help="run on this backend only (repeatable; default: the scenario's backends)",
    )
    parser.add_argument("--seed", type=int, help="override every scenario's seed")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write the full reports here")
    parser.add_argument(
        "--compare",
        metavar="BASE,OTHER",
        help="also run under two engine profiles and print the differences (e.g. tuned,original)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    # Wide enough for the tables in CI logs, where there is no terminal to measure.
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 120)
    try:
        scenarios = [load_scenario(path) for path in args.files]
        profiles = _profiles(args.compare)
    except (ScenarioError, ValueError) as exc:
        print(f"recobeat replay: {exc}", file=sys.stderr)
        return 2
    reports: list[Report] = []
    comparisons: list[Comparison] = []
    for scenario in scenarios:
        if args.seed is not None:
            scenario = msgspec.structs.replace(scenario, seed=args.seed)
        for backend in args.backend or scenario.backends:
            reports.append(_run(scenario, backend, None, console))
        pair = profiles or (tuple(scenario.compare) if scenario.compare else None)
        if pair:
            backend = (args.backend or scenario.backends)[0]
            base, other = (_run(scenario, backend, p, console) for p in pair)
            comparisons.append(compare(other, base))
            print_comparison(comparisons[-1], console)
    if args.json is not None:
        args.json.write_bytes(msgspec.json.encode(ReplayOutput(reports, comparisons)) + b"\n")
    failed = [r for r in reports if not r.passed]
    console.print(
        f"\n{len(reports) - len(failed)} passed, {len(failed)} failed"
        + "".join(f"\n  FAILED {r.scenario} on {r.backend}" for r in failed)
    )
    return 1 if failed else 0


def _run(scenario: Scenario, backend: str, profile: str | None, console: Console) -> Report:
    started = time.perf_counter()
    report = build_report(run_scenario(scenario, backend, profile=profile))  # type: ignore[arg-type]
    print_report(report, console, wall_seconds=time.perf_counter() - started)
    return report


def _profiles(spec: str | None) -> tuple[str, str] | None:
    if spec is None:
        return None
    names = [p.strip() for p in spec.split(",")]
    if len(names) != 2:
        raise ValueError(f"--compare takes two profiles separated by a comma, not {spec!r}")
    from recobeat.profiles import profile

    for name in names:
        profile(name)
    return names[0], names[1]
