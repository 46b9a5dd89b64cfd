"""``recobeat replay``: run scenario files, print the reports, exit 1 if an expectation failed."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import msgspec
from rich.console import Console

from simulator.replay.compare import Comparison, compare, print_comparison
from simulator.replay.heap import settle_heap
from simulator.replay.library import bundled_scenarios, describe, resolve
from simulator.replay.progress import progress_display
from simulator.replay.report import Report, build_report, print_report
from simulator.replay.runner import run_scenario
from simulator.replay.scenario import Scenario, ScenarioError, load_scenario

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
            "expectations. Exit status: 0 when every expectation held, 1 when one failed "
            "(in a comparison run too), 2 when a scenario file or an option is invalid, 130 "
            "when interrupted."
        ),
    )
    parser.add_argument(
        "files",
        nargs="*",
        metavar="FILE",
        help="a scenario file, or the name of a bundled scenario (see --list)",
    )
    parser.add_argument("--list", action="store_true", help="list the bundled scenarios and exit")
    parser.add_argument(
        "--backend",
        choices=("asyncio", "trio"),
        action="append",
        help="run on this backend only (repeatable; default: the scenario's backends)",
    )
    parser.add_argument("--seed", type=int, help="override every scenario's random seed")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write the full reports here")
    parser.add_argument(
        "--compare",
        metavar="BASE,OTHER",
        help="also run under two engine profiles and print the differences (e.g. tuned,original)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.list:
        for name, resource in bundled_scenarios().items():
            print(f"{name:<36} {describe(resource)}")
        return 0
    # Wide enough for the tables in CI logs, where there is no terminal to measure.
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 120)
    try:
        if not args.files:
            raise ValueError("no scenario given: name a FILE or a bundled scenario (see --list)")
        scenarios = [load_scenario(resolve(name)) for name in args.files]
        profiles = _profiles(args.compare)
        if args.json is not None:
            _check_writable(args.json)
    except (ScenarioError, ValueError) as exc:
        print(f"recobeat replay: {exc}", file=sys.stderr)
        return 2
    try:
        return _replay(args, scenarios, profiles, console)
    except KeyboardInterrupt:
        # A replay of hours of virtual time can take a while; Ctrl-C is an answer, not a crash.
        print("recobeat replay: interrupted", file=sys.stderr)
        return 130


def _replay(
    args: argparse.Namespace,
    scenarios: list[Scenario],
    profiles: tuple[str, str] | None,
    console: Console,
) -> int:
    reports: list[Report] = []
    compared: list[Report] = []
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
            compared += (base, other)
            comparisons.append(compare(other, base))
            print_comparison(comparisons[-1], console)
    if args.json is not None:
        args.json.write_bytes(msgspec.json.encode(ReplayOutput(reports, comparisons)) + b"\n")
    # A comparison run checks the same expectations; its failure is a failure like any other.
    runs = [(r, "") for r in reports] + [(r, f", profile {r.profile}") for r in compared]
    failed = [(r, note) for r, note in runs if not r.passed]
    console.print(
        f"\n{len(runs) - len(failed)} passed, {len(failed)} failed"
        + "".join(f"\n  FAILED {r.scenario} on {r.backend}{note}" for r, note in failed)
    )
    return 1 if failed else 0


def _check_writable(path: Path) -> None:
    """Refuse a ``--json`` path that cannot be written before spending a replay on it."""
    if path.is_dir():
        raise ValueError(f"--json {path}: is a directory")
    existed = path.exists()
    try:
        with path.open("ab"):
            pass
    except OSError as exc:
        raise ValueError(f"--json {path}: cannot write: {exc.strerror}") from None
    if not existed:
        # Only probed: an interrupted replay leaves no empty report behind.
        path.unlink()


def _run(scenario: Scenario, backend: str, profile: str | None, console: Console) -> Report:
    started = time.perf_counter()
    label = f"{scenario.name} on {backend}" + (f" ({profile})" if profile else "")
    settle_heap(scenario)  # this command owns its process
    # A progress bar on a terminal only: never in a pipe, a CI log or the report.
    with progress_display(console, label) as progress:
        run = run_scenario(scenario, backend, profile=profile, progress=progress)  # type: ignore[arg-type]
    report = build_report(run)
    print_report(report, console, wall_seconds=time.perf_counter() - started)
    return report


def _profiles(spec: str | None) -> tuple[str, str] | None:
    if spec is None:
        return None
    names = [p.strip() for p in spec.split(",")]
    if len(names) != 2:
        raise ValueError(f"--compare takes two profiles separated by a comma, not {spec!r}")
    from simulator.profiles import profile

    for name in names:
        profile(name)
    return names[0], names[1]
