"""``recobeat plan PLAN.toml``: sweep a scenario's fields, search a target, write the results.

Exit status: 0 when the plan ran, 2 when the plan or an option is unusable (one line on
stderr), 130 when interrupted.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from simulator.plan.output import print_result, to_csv, to_json
from simulator.plan.spec import PlanError, load_plan
from simulator.plan.sweep import Progress as ProgressCallback
from simulator.plan.sweep import default_jobs, run_plan
from simulator.replay.library import bundled, describe

__all__ = ["add_plan_command", "run"]


def add_plan_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "plan",
        help="capacity planning: sweep scenario fields, search a target, plot against the bound",
        description=(
            "Replay a scenario at every point of a plan's axes and seeds (every point a full "
            "replay in virtual time), search its target by bisection, and print a table; "
            "JSON, CSV and PNG go to --out as the plan's outputs say (docs/planning.md). "
            "Exit status: 0 when the plan ran, 2 when the plan or an option is unusable, 130 "
            "when interrupted."
        ),
    )
    parser.add_argument(
        "plan",
        nargs="?",
        metavar="PLAN",
        help="the plan file (TOML), or the name of a bundled plan (see --list)",
    )
    parser.add_argument("--list", action="store_true", help="list the bundled plans and exit")
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("."),
        metavar="DIR",
        help="where the JSON, CSV and PNG go, named after the plan (default: %(default)s)",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=None,
        metavar="N",
        help="replays run in parallel processes (default: the number of CPUs)",
    )
    parser.set_defaults(run=run)


def _fail(problem: str) -> int:
    print(f"recobeat plan: {problem}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    if args.list:
        for name, resource in bundled("plan").items():
            print(f"{name:<24} {describe(resource)}")
        return 0
    if args.plan is None:
        return _fail("PLAN: give a plan file or a bundled plan's name (--list shows them)")
    jobs = default_jobs() if args.jobs is None else args.jobs
    if jobs < 1:
        return _fail(f"--jobs {jobs}: at least 1")
    try:
        plan, scenario = load_plan(args.plan)
    except PlanError as exc:
        return _fail(str(exc))
    if "png" in plan.outputs:
        from simulator.plan.plot import require_matplotlib

        try:
            require_matplotlib()
        except ModuleNotFoundError as exc:
            return _fail(f"{args.plan}: outputs: {exc}")
    files = [o for o in plan.outputs if o != "table"]
    if files:
        if args.out.exists() and not args.out.is_dir():
            return _fail(f"--out {args.out}: not a directory")
        try:
            args.out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            return _fail(f"--out {args.out}: cannot create: {exc.strerror}")
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
    stem = Path(args.plan).name.removesuffix(".toml")
    try:
        with _progress(console, stem) as progress:
            result = run_plan(plan, scenario, name=stem, jobs=jobs, progress=progress, settle=True)
    except KeyboardInterrupt:
        print("recobeat plan: interrupted", file=sys.stderr)
        return 130
    if "table" in plan.outputs:
        print_result(result, console)
    written: list[Path] = []
    try:
        if "json" in plan.outputs:
            path = args.out / f"{stem}.json"
            path.write_bytes(to_json(result))
            written.append(path)
        if "csv" in plan.outputs:
            path = args.out / f"{stem}.csv"
            path.write_text(to_csv(result), encoding="utf-8")
            written.append(path)
        if "png" in plan.outputs:
            from simulator.plan.plot import write_plots

            written += write_plots(result, args.out, stem)
    except OSError as exc:
        return _fail(f"--out {args.out}: cannot write: {exc.strerror or exc}")
    if written:
        console.print("wrote " + ", ".join(str(p) for p in written))
    return 0


@contextmanager
def _progress(console: Console, label: str) -> Iterator[ProgressCallback | None]:
    """A progress bar over replays with an ETA, on a terminal only."""
    if not console.is_terminal:
        yield None
        return
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("replays"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )
    task = bar.add_task(label, total=None)

    def update(done: int, total: int) -> None:
        bar.update(task, completed=done, total=total)

    with bar:
        yield update
