"""How far each scenario's replay is from the upstream's floor.

    python bench/bench_floor.py [SCENARIO.toml ...] [--json PATH]

Replays every scenario in scenarios/ (or the files given) on asyncio, once under its own
profile and, for a scenario with ``compare``, under each compared profile too, and prints one
row per replay: upstream requests, the floor (the fewest requests any client could have made for
the same lookups, scenarios/README.md "The floor"), their ratio, the endpoint group furthest
above its floor, the share of the rate budget used while work waited, playlist latency p50 and
p95, and the wall time of the replay. Then, per replay, every group above its floor (the
report's "excess"). Run it from the repository's root: scenarios are read from ./scenarios.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from simulator.replay.floor import calls_by_group
from simulator.replay.report import Metrics, build_report
from simulator.replay.runner import catalog_for, run_scenario
from simulator.replay.scenario import Scenario, load_scenario


def excess(m: Metrics) -> list[tuple[str, int, int]]:
    """Every endpoint group above its floor, as (calls, made, floor), furthest first."""
    rows = []
    for group, calls in calls_by_group(m.upstream_by_endpoint).items():
        made = sum(calls.values())
        floor = m.floor_by_endpoint.get(group, 0)
        if made > floor:
            rows.append((" + ".join(calls), made, floor))
    return sorted(rows, key=lambda row: (row[2] - row[1], row[0]))


def profiles(scenario: Scenario) -> list[str | None]:
    """The scenario's own profile (``None``), then each compared profile not already run."""
    own = scenario.engine.get("profile", "tuned")
    return [None] + [p for p in scenario.compare if p != own]


def replay(scenario: Scenario, profile: str | None) -> dict[str, Any]:
    started = time.perf_counter()
    run = run_scenario(scenario, "asyncio", profile=profile)
    report = build_report(run)
    wall = time.perf_counter() - started
    m = report.metrics
    lat = m.playlist_latency
    return {
        "scenario": scenario.name,
        "profile": report.profile,
        "passed": report.passed,
        "upstream_calls": m.upstream_calls,
        "floor": m.upstream_floor,
        "ratio": m.floor_ratio,
        "excess": [{"calls": c, "made": made, "floor": f} for c, made, f in excess(m)],
        "budget_utilisation": m.budget_utilisation,
        "playlists": lat.count,
        "p50": lat.p50,
        "p95": lat.p95,
        "virtual_s": m.virtual_seconds,
        "wall_s": round(wall, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path)
    parser.add_argument("--json", type=Path, help="also write every row to this file")
    args = parser.parse_args()
    files = args.files or sorted(Path("scenarios").glob("*.toml"))
    if not files:
        parser.error("no scenario: run from the repository's root or name the files")
    rows = []
    for path in files:
        scenario = load_scenario(path)
        catalog_for(scenario.upstream.catalog, scenario.upstream.seed)  # built once, not timed
        for profile in profiles(scenario):
            rows.append(replay(scenario, profile))
    print(
        "| scenario | profile | upstream requests | floor | ratio | largest excess "
        "| budget used while work waited | playlist p50 | playlist p95 | wall |"
    )
    print("| --- | --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: |")
    for r in rows:
        ratio = "n/a" if r["ratio"] is None else f"{r['ratio']:.2f}"
        largest = r["excess"][0] if r["excess"] else None
        big = f"{largest['calls']} {largest['made']} vs {largest['floor']}" if largest else "none"
        used = "n/a" if r["budget_utilisation"] is None else f"{r['budget_utilisation']:.0%}"
        p50, p95 = (f"{r['p50']:.0f} s", f"{r['p95']:.0f} s") if r["playlists"] else ("-", "-")
        print(
            f"| {r['scenario']}{'' if r['passed'] else ' (FAIL)'} | {r['profile']} "
            f"| {r['upstream_calls']} | {r['floor']} | {ratio} | {big} | {used} "
            f"| {p50} | {p95} | {r['wall_s']:.1f} s |"
        )
    print()
    for r in rows:
        parts = ", ".join(f"{e['calls']} {e['made']} vs {e['floor']}" for e in r["excess"])
        print(f"{r['scenario']} ({r['profile']}): excess {parts or 'none'}")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"results": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
