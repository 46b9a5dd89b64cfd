"""How long a scenario replay takes in wall time, and its upstream requests per wall second.

    python bench/bench_replay.py [SCENARIO.toml ...] [--rounds N] [--backend B]
        [--transport direct|httpx] [--json PATH]

Prints the best and median wall time per backend (default scenarios: scenarios/steady-hour.toml,
an hour of playlist traffic from 100 users, and bench/scenarios/saturated-hour.toml, an hour
that keeps the 80-a-minute budget busy), with what was replayed (virtual seconds, arrivals,
upstream calls) and the upstream requests per wall second of the best round, and writes
bench/results/replay.json (or PATH). ``--transport httpx`` replays through httpx and the
simulator's httpx transport instead of the client's direct transport (the same reports).
Each scenario's process is settled first, as the ``recobeat`` commands do
(:func:`simulator.replay.heap.settle_heap`: the catalog and the recommender's index frozen out of
the garbage collector's reach, young collections rarer); ``--collector default`` leaves CPython's
collector as it is. Targets: an hour in at most 5 s of wall time per backend; 5,000 upstream
requests per wall second on asyncio (issue 14).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

from engine.virtual import BACKENDS
from simulator.replay.heap import settle_heap
from simulator.replay.report import build_report
from simulator.replay.runner import catalog_for, run_scenario
from simulator.replay.scenario import load_scenario

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "files",
        nargs="*",
        type=Path,
        default=[ROOT / "scenarios/steady-hour.toml", ROOT / "bench/scenarios/saturated-hour.toml"],
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--backend", choices=BACKENDS, action="append")
    parser.add_argument("--transport", choices=("direct", "httpx"), default="direct")
    parser.add_argument("--collector", choices=("settled", "default"), default="settled")
    parser.add_argument("--json", type=Path, default=ROOT / "bench/results/replay.json")
    args = parser.parse_args()
    results = []
    for path in args.files:
        scenario = load_scenario(path)
        catalog_for(scenario.upstream.catalog, scenario.upstream.seed)  # built once, not timed
        if args.collector == "settled":
            settle_heap(scenario)
        for backend in args.backend or BACKENDS:
            times = []
            for _ in range(args.rounds):
                started = time.perf_counter()
                run = run_scenario(scenario, backend, transport=args.transport)
                times.append(time.perf_counter() - started)
            metrics = build_report(run).metrics
            row = {
                "scenario": scenario.name,
                "backend": backend,
                "transport": args.transport,
                "collector": args.collector,
                "best_s": round(min(times), 3),
                "median_s": round(statistics.median(times), 3),
                "virtual_s": metrics.virtual_seconds,
                "arrivals": metrics.arrivals,
                "upstream_calls": metrics.upstream_calls,
                "speedup": round(metrics.virtual_seconds / min(times)),
                "requests_per_s": round(metrics.upstream_calls / min(times)),
            }
            results.append(row)
            print(
                f"{row['scenario']:<28} {backend:<8} best {row['best_s']:6.2f} s  "
                f"median {row['median_s']:6.2f} s  for {row['virtual_s']:,.0f} s virtual "
                f"({row['arrivals']} arrivals, {row['upstream_calls']} upstream calls, "
                f"{row['speedup']:,}x real time, {row['requests_per_s']:,} requests/s)"
            )
    out = args.json
    out.parent.mkdir(exist_ok=True)
    machine = {"python": platform.python_version(), "machine": platform.machine()}
    out.write_text(json.dumps({"machine": machine, "results": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
